-- Webhooks: the URLs a vendor registers per app, with the secret that signs each
-- delivery, and the delivery queue every replica works from (claimed with a lease).
CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    app        TEXT    NOT NULL REFERENCES apps (name),
    url        TEXT    NOT NULL,
    events     TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhooks_by_app ON webhooks (app, id);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    lease_holder    TEXT,
    lease_until_ms  INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_ms);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);

-- An event that lasts (a failure spike) is sent once per episode: open while a row
-- exists.
CREATE TABLE webhook_episodes (
    app       TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    opened_at INTEGER NOT NULL,
    PRIMARY KEY (app, kind)
);
