-- A profile's history finds its messages here instead of through an index of messages by
-- profile. The analysis queues a delivery's messages in token order, and real tokens have
-- nothing to do with their profiles' order: that index took nearly every message at a
-- random place of itself, and every analysis transaction wrote most of its pages to the
-- log again. A delivery's messages enter this table when its analysis ends, in one insert
-- sorted by profile (see `finish_analysis` in the `analysis` module of pushgate-store);
-- while a delivery is analysed, the history reads its messages from the delivery itself.
-- On PostgreSQL the random inserts cost little (the analysis took the same time either
-- way); the table is here too so that both backends answer a profile's history with the
-- same statement. No foreign key: each insert would look its message up at a random place
-- of messages, and the rows come from messages in the statement that inserts them
-- (messages are never deleted).
CREATE TABLE message_profiles (
    profile_id  TEXT NOT NULL,
    message_id  BIGINT NOT NULL,
    PRIMARY KEY (profile_id, message_id)
);
INSERT INTO message_profiles (profile_id, message_id)
SELECT m.profile_id, m.id FROM messages m JOIN deliveries d ON d.id = m.delivery_id
WHERE m.profile_id IS NOT NULL AND d.state <> 'analyzing'
ORDER BY m.profile_id, m.id;
DROP INDEX messages_profile;
