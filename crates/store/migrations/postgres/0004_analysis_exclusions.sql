-- The analysis joins each target with its profile and its address only to find the few that
-- exclude it: a denylisted profile, an address in Quarantine or Denylisted. These partial
-- indexes hold only those rows, so that the join of a target that nothing excludes (nearly
-- all) is one look into a small index instead of a look into the whole table's key and a
-- read of the row.
CREATE INDEX profiles_denylisted ON profiles (app_id, id) WHERE denylisted = 1;
CREATE INDEX addresses_excluding ON addresses (app_id, token) WHERE status IN ('Quarantine', 'Denylisted');
