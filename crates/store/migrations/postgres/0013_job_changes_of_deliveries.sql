-- The cleanup also purges the delivery log of deliveries that finished longer ago than
-- `jobs.delivery_log_retention_days`, and records each purged delivery as a change of its
-- run.
ALTER TABLE job_changes
    DROP CONSTRAINT job_changes_subject_check,
    ADD CONSTRAINT job_changes_subject_check
        CHECK (subject IN ('subscription', 'address', 'delivery'));
