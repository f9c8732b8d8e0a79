-- The profiles' index of messages (migration 0007) in blocks: a delivery's entries go to
-- the block of its first message id (that id divided by 1048576, 2^20), sorted by profile
-- within it. Keyed by profile alone, each delivery to every subscriber put one entry next
-- to each profile's earlier ones, all over the table: the insert at the end of an analysis
-- rewrote every page of it, and took longer with each delivery. Now it writes its own
-- block, which holds at most the deliveries whose first message id falls in the same
-- 2^20 ids, and the earlier blocks are left alone. A profile's history looks its messages
-- up in each block (`profile_history` in the `reports` module of pushgate-store).
CREATE TABLE message_profiles_by_block (
    id_block    INTEGER NOT NULL,
    profile_id  TEXT NOT NULL,
    message_id  INTEGER NOT NULL,
    PRIMARY KEY (id_block, profile_id, message_id)
) WITHOUT ROWID;
-- Filled from messages, as 0007 filled the table it replaces (the messages of every
-- delivery whose analysis has ended), not from that table: its order is the profiles', and
-- each of its entries would look its message up at a random place of messages.
INSERT INTO message_profiles_by_block (id_block, profile_id, message_id)
SELECT f.id_block, m.profile_id, m.id
FROM messages m
JOIN deliveries d ON d.id = m.delivery_id
JOIN (SELECT delivery_id, MIN(id) / 1048576 AS id_block FROM messages GROUP BY delivery_id) f
    ON f.delivery_id = m.delivery_id
WHERE m.profile_id IS NOT NULL AND d.state <> 'analyzing'
ORDER BY f.id_block, m.profile_id, m.id;
DROP TABLE message_profiles;
ALTER TABLE message_profiles_by_block RENAME TO message_profiles;
