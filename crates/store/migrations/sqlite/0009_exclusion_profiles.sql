-- A profile's history finds its exclusions here instead of through an index of exclusions
-- by profile, as migration 0007 did for messages: the analysis writes a delivery's
-- exclusions in token order, and that index took each at a random place of itself. A
-- delivery's exclusions enter this table when its analysis ends, in one insert sorted by
-- profile (see `finish_analysis` in the `analysis` module of pushgate-store); while a
-- delivery is analysed, the history reads its exclusions from the delivery itself. No
-- foreign key, for the same reasons as in 0007 (exclusions are never deleted either).
CREATE TABLE exclusion_profiles (
    profile_id    TEXT NOT NULL,
    exclusion_id  INTEGER NOT NULL,
    PRIMARY KEY (profile_id, exclusion_id)
) WITHOUT ROWID;
INSERT INTO exclusion_profiles (profile_id, exclusion_id)
SELECT e.profile_id, e.id FROM exclusions e JOIN deliveries d ON d.id = e.delivery_id
WHERE e.profile_id IS NOT NULL AND d.state <> 'analyzing'
ORDER BY e.profile_id, e.id;
DROP INDEX exclusions_profile;
