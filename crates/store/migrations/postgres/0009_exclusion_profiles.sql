-- A profile's history finds its exclusions here instead of through an index of exclusions
-- by profile, as migration 0007 did for messages, so that both backends answer the
-- history with the same statements (see 0007 and the SQLite migration of the same number).
-- A delivery's exclusions enter this table when its analysis ends, in one insert sorted by
-- profile; while a delivery is analysed, the history reads its exclusions from the
-- delivery itself.
CREATE TABLE exclusion_profiles (
    profile_id    TEXT NOT NULL,
    exclusion_id  BIGINT NOT NULL,
    PRIMARY KEY (profile_id, exclusion_id)
);
INSERT INTO exclusion_profiles (profile_id, exclusion_id)
SELECT e.profile_id, e.id FROM exclusions e JOIN deliveries d ON d.id = e.delivery_id
WHERE e.profile_id IS NOT NULL AND d.state <> 'analyzing'
ORDER BY e.profile_id, e.id;
DROP INDEX exclusions_profile;
