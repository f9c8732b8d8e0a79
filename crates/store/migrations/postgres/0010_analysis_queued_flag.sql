-- The analysis finds a token met twice without the unique index on (delivery_id, token),
-- an entry of about 110 bytes that every queued message paid for. A batch's targets are
-- judged in token order, so a token met again is met next to itself; what crosses the
-- edge of a batch is kept in the delivery's row: analysis_queued says whether a message
-- was queued for the cursor's token (analysis_token).
ALTER TABLE deliveries ADD COLUMN analysis_queued BIGINT NOT NULL DEFAULT 0 CHECK (analysis_queued IN (0, 1));
-- A delivery still analysing carries over what its messages already say.
UPDATE deliveries SET analysis_queued = 1
WHERE state = 'analyzing' AND analysis_token IS NOT NULL
  AND EXISTS (SELECT 1 FROM messages m WHERE m.delivery_id = deliveries.id AND m.token = deliveries.analysis_token);
DROP INDEX messages_delivery_token;
