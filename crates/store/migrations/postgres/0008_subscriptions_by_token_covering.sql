-- The analysis reads an app's subscriptions in token order, through this index; each entry
-- then sent PostgreSQL to the subscription's row for its profile and disabled flag. Rows are
-- stored in the order they were registered, which has nothing to do with their tokens'
-- order: every read was a jump to another place of the table. With the two columns in the
-- index, the analysis reads the index alone wherever the table's pages are all visible
-- (autovacuum marks them). SQLite's migration 0006 does the same.
CREATE INDEX subscriptions_by_token ON subscriptions (app_id, token, id) INCLUDE (profile_id, disabled);
DROP INDEX subscriptions_token;
