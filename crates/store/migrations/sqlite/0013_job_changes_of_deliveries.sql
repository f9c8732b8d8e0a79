-- The cleanup also purges the delivery log of deliveries that finished longer ago than
-- `jobs.delivery_log_retention_days`, and records each purged delivery as a change of its
-- run. SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE job_changes_new (
    run_id       INTEGER NOT NULL REFERENCES job_runs (id),
    app_id       TEXT NOT NULL,
    subject      TEXT NOT NULL CHECK (subject IN ('subscription', 'address', 'delivery')),
    subject_key  TEXT NOT NULL,
    change       TEXT NOT NULL
);
INSERT INTO job_changes_new (run_id, app_id, subject, subject_key, change)
SELECT run_id, app_id, subject, subject_key, change FROM job_changes;
DROP TABLE job_changes;
ALTER TABLE job_changes_new RENAME TO job_changes;
CREATE INDEX job_changes_run ON job_changes (run_id);
