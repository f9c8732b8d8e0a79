-- pushgate schema, SQLite flavour. Times are epoch milliseconds (INTEGER); flags are 0/1.
-- Tokens are TEXT with the default BINARY collation: compared case-sensitively.

CREATE TABLE apps (
    id          TEXT PRIMARY KEY,
    platform    TEXT NOT NULL CHECK (platform IN ('ios', 'android')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE profiles (
    app_id      TEXT NOT NULL REFERENCES apps (id),
    id          TEXT NOT NULL,
    denylisted  INTEGER NOT NULL DEFAULT 0 CHECK (denylisted IN (0, 1)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (app_id, id)
);

CREATE TABLE subscriptions (
    id            INTEGER PRIMARY KEY,
    app_id        TEXT NOT NULL,
    profile_id    TEXT NOT NULL,
    token         TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    disabled_at   INTEGER,
    registered_at INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (app_id, profile_id, token),
    FOREIGN KEY (app_id, profile_id) REFERENCES profiles (app_id, id)
);
CREATE INDEX subscriptions_token ON subscriptions (app_id, token, id);
CREATE INDEX subscriptions_profile ON subscriptions (app_id, profile_id);

-- The quarantine list: one row per (app, token) that has had an error or an operator status.
CREATE TABLE addresses (
    app_id              TEXT NOT NULL REFERENCES apps (id),
    token               TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('Valid', 'With errors', 'Quarantine', 'Denylisted', 'Allowlisted')),
    error_count         INTEGER NOT NULL,
    last_failure_type   TEXT,
    last_failure_reason INTEGER,
    first_error_text    TEXT,
    last_error_text     TEXT,
    first_error_at      INTEGER,
    last_error_at       INTEGER,
    unregistered_at     INTEGER,
    last_modified       INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    PRIMARY KEY (app_id, token)
);
CREATE INDEX addresses_status ON addresses (app_id, status);
CREATE INDEX addresses_last_modified ON addresses (last_modified);

CREATE TABLE address_releases (
    id           INTEGER PRIMARY KEY,
    app_id       TEXT NOT NULL,
    token        TEXT NOT NULL,
    from_status  TEXT NOT NULL,
    action       TEXT NOT NULL CHECK (action IN ('valid', 'deleted')),
    cause        TEXT NOT NULL CHECK (cause IN ('manual', 'bulk', 're-registration')),
    released_at  INTEGER NOT NULL
);
CREATE INDEX address_releases_token ON address_releases (app_id, token);

CREATE TABLE deliveries (
    id                 TEXT PRIMARY KEY,
    app_id             TEXT NOT NULL REFERENCES apps (id),
    notification       TEXT NOT NULL,
    target_kind        TEXT NOT NULL CHECK (target_kind IN ('all', 'profiles', 'tokens')),
    dry_run            INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
    state              TEXT NOT NULL CHECK (state IN ('analyzing', 'sending', 'done')),
    validity_secs      INTEGER NOT NULL,
    requested_validity_secs INTEGER NOT NULL,
    -- Where the analysis stands in the target (subscriptions are read in token order).
    analysis_token     TEXT,
    analysis_id        INTEGER NOT NULL DEFAULT 0,
    -- Messages up to this id have been handed out for their first attempt (see leases).
    claim_cursor       INTEGER NOT NULL DEFAULT 0,
    -- The delivery's highest message id, set when its analysis ends.
    last_message_id    INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    analyzed_at        INTEGER,
    finished_at        INTEGER
);
CREATE INDEX deliveries_app ON deliveries (app_id, created_at);
CREATE INDEX deliveries_state ON deliveries (state);

-- The explicit target of a delivery (profiles or tokens), in request order.
CREATE TABLE delivery_targets (
    delivery_id  TEXT NOT NULL REFERENCES deliveries (id),
    seq          INTEGER NOT NULL,
    profile_id   TEXT,
    token        TEXT,
    PRIMARY KEY (delivery_id, seq)
);

-- The delivery log: one row per (delivery, token) that analysis let through.
CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    delivery_id      TEXT NOT NULL REFERENCES deliveries (id),
    subscription_id  INTEGER,
    profile_id       TEXT,
    token            TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('Pending', 'Retry', 'Sent', 'Failed', 'Received', 'Planned')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_owner      TEXT,
    provider_id      TEXT,
    outcome_id       TEXT,
    failure_type     TEXT,
    failure_reason   INTEGER,
    error_text       TEXT,
    quarantined      INTEGER NOT NULL DEFAULT 0 CHECK (quarantined IN (0, 1)),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
-- Retries wait here until due; first attempts are claimed by range (see leases).
CREATE INDEX messages_due ON messages (next_attempt_at) WHERE status = 'Retry';
CREATE UNIQUE INDEX messages_delivery_token ON messages (delivery_id, token);
CREATE INDEX messages_delivery_status ON messages (delivery_id, status, id);
CREATE INDEX messages_profile ON messages (profile_id);

-- A node's claim on a range of a delivery's first attempts: the messages with ids in
-- [first_id, last_id] still Pending are its to send until lease_until; after that, any node
-- takes the range over. A range is deleted once all its results are written.
CREATE TABLE leases (
    id           INTEGER PRIMARY KEY,
    delivery_id  TEXT NOT NULL REFERENCES deliveries (id),
    first_id     INTEGER NOT NULL,
    last_id      INTEGER NOT NULL,
    owner        TEXT NOT NULL,
    lease_until  INTEGER NOT NULL
);
CREATE INDEX leases_until ON leases (lease_until);
CREATE INDEX leases_delivery ON leases (delivery_id, first_id);

-- The exclusion log: every target left out by the analysis, with its failure reason.
CREATE TABLE exclusions (
    id               INTEGER PRIMARY KEY,
    delivery_id      TEXT NOT NULL REFERENCES deliveries (id),
    subscription_id  INTEGER,
    profile_id       TEXT,
    token            TEXT,
    kind             TEXT NOT NULL,
    reason           INTEGER NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX exclusions_delivery ON exclusions (delivery_id, reason);
CREATE INDEX exclusions_profile ON exclusions (profile_id);

CREATE TABLE job_runs (
    id           INTEGER PRIMARY KEY,
    job          TEXT NOT NULL,
    node         TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    outcome      TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'failed')),
    changed      INTEGER NOT NULL DEFAULT 0,
    detail       TEXT
);
CREATE INDEX job_runs_job ON job_runs (job, started_at);

-- What each job run changed: one row per subscription disabled or address released.
CREATE TABLE job_changes (
    run_id       INTEGER NOT NULL REFERENCES job_runs (id),
    app_id       TEXT NOT NULL,
    subject      TEXT NOT NULL CHECK (subject IN ('subscription', 'address')),
    subject_key  TEXT NOT NULL,
    change       TEXT NOT NULL
);
CREATE INDEX job_changes_run ON job_changes (run_id);
