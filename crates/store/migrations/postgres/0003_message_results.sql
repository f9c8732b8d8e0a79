-- The final result of a message's first attempt is appended here, instead of being written
-- over its row in messages: an insert at the end of this table costs SQLite about half what
-- an update in the middle of messages does (each row there grows by its result and splits
-- its page). The message's row stays as the analysis queued it, with status 'Pending'.
-- A retry's results, and the end of a validity period, still update messages (status
-- 'Retry', then 'Sent' or 'Failed'): a message has a row here, or a final status there, or
-- neither while it waits. message_log is the delivery log that reports read.
CREATE TABLE message_results (
    id              BIGINT PRIMARY KEY REFERENCES messages (id),
    delivery_id     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('Sent', 'Failed')),
    attempts        BIGINT NOT NULL,
    provider_id     TEXT,
    outcome_id      TEXT,
    failure_type    TEXT,
    failure_reason  BIGINT,
    error_text      TEXT,
    quarantined     BIGINT NOT NULL CHECK (quarantined IN (0, 1)),
    updated_at      BIGINT NOT NULL
);
CREATE INDEX message_results_failed ON message_results (delivery_id, failure_type, failure_reason) WHERE status = 'Failed';

CREATE VIEW message_log AS
SELECT m.id, m.delivery_id, m.subscription_id, m.profile_id, m.token,
    CASE WHEN r.id IS NULL THEN m.status ELSE r.status END AS status,
    CASE WHEN r.id IS NULL THEN m.attempts ELSE r.attempts END AS attempts,
    m.next_attempt_at,
    CASE WHEN r.id IS NULL THEN m.provider_id ELSE r.provider_id END AS provider_id,
    CASE WHEN r.id IS NULL THEN m.outcome_id ELSE r.outcome_id END AS outcome_id,
    CASE WHEN r.id IS NULL THEN m.failure_type ELSE r.failure_type END AS failure_type,
    CASE WHEN r.id IS NULL THEN m.failure_reason ELSE r.failure_reason END AS failure_reason,
    CASE WHEN r.id IS NULL THEN m.error_text ELSE r.error_text END AS error_text,
    CASE WHEN r.id IS NULL THEN m.quarantined ELSE r.quarantined END AS quarantined,
    m.created_at,
    CASE WHEN r.id IS NULL THEN m.updated_at ELSE r.updated_at END AS updated_at
FROM messages m LEFT JOIN message_results r ON r.id = m.id;
