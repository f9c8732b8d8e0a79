-- Messages are found by delivery and id, and by the few statuses that queries look for on
-- their own through partial indexes, instead of through an index on (delivery_id, status, id).
-- Every result changes a message's status: with status in a full index, each one moved the
-- message's entry in it (a delete and an insert). A result from Pending to Sent touches none
-- of these. Where a delivery's Pending messages are (past its claim cursor, or in a leased
-- range) is the queue's invariant: see the `queue` module of pushgate-store.
DROP INDEX messages_delivery_status;
CREATE INDEX messages_delivery ON messages (delivery_id, id);
CREATE INDEX messages_retry ON messages (delivery_id) WHERE status = 'Retry';
CREATE INDEX messages_failed ON messages (delivery_id, failure_type, failure_reason) WHERE status = 'Failed';
