-- A lease row is one claim of its range: a takeover makes new rows instead of changing the
-- old one, and the plain successes of a first attempt are fenced by their lease's row alone
-- (see the `queue` module of pushgate-store). So a lease's id must never be given again once
-- its row is deleted, which SQLite guarantees only with AUTOINCREMENT (without it, a new row
-- may take the largest id back). PostgreSQL's identity column never gives an id twice.
CREATE TABLE leases_by_claim (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT NOT NULL REFERENCES deliveries (id),
    first_id     INTEGER NOT NULL,
    last_id      INTEGER NOT NULL,
    owner        TEXT NOT NULL,
    lease_until  INTEGER NOT NULL
);
INSERT INTO leases_by_claim (id, delivery_id, first_id, last_id, owner, lease_until)
SELECT id, delivery_id, first_id, last_id, owner, lease_until FROM leases;
DROP TABLE leases;
ALTER TABLE leases_by_claim RENAME TO leases;
CREATE INDEX leases_until ON leases (lease_until);
CREATE INDEX leases_delivery ON leases (delivery_id, first_id);
