-- The whole control-plane schema. Every lookup the `Store` trait does is a primary
-- key or a unique/secondary index; check-in state lives on the install row so the
-- hot path is one indexed SELECT and one UPDATE of one row.

CREATE TABLE apps (
    name        TEXT    NOT NULL PRIMARY KEY,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE releases (
    app              TEXT    NOT NULL REFERENCES apps (name),
    version          TEXT    NOT NULL,
    release_counter  INTEGER NOT NULL CHECK (release_counter >= 0),
    digest           TEXT    NOT NULL,
    envelope         TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (app, version),
    UNIQUE (app, release_counter)
) STRICT;

CREATE TABLE channels (
    app         TEXT    NOT NULL REFERENCES apps (name),
    name        TEXT    NOT NULL,
    -- NULL until the channel is first pointed at a release.
    version     TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (app, name),
    FOREIGN KEY (app, version) REFERENCES releases (app, version)
) STRICT;

CREATE TABLE customers (
    name        TEXT    NOT NULL PRIMARY KEY,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE licenses (
    id          TEXT    NOT NULL PRIMARY KEY,
    customer    TEXT    NOT NULL REFERENCES customers (name),
    app         TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    key_hash    TEXT    NOT NULL UNIQUE,
    revoked     INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    revoked_at  INTEGER,
    created_at  INTEGER NOT NULL,
    FOREIGN KEY (app, channel) REFERENCES channels (app, name)
) STRICT;

CREATE INDEX licenses_by_created_at ON licenses (created_at);

CREATE TABLE installs (
    id           TEXT    NOT NULL PRIMARY KEY,
    license_id   TEXT    NOT NULL REFERENCES licenses (id),
    customer     TEXT    NOT NULL,
    app          TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    public_key   TEXT    NOT NULL,
    hostname     TEXT    NOT NULL,
    platform     TEXT    NOT NULL,
    revoked      INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    revoked_at   INTEGER,
    created_at   INTEGER NOT NULL,

    -- The last check-in report; all NULL until the first check-in.
    report_at               INTEGER,
    report_status           TEXT,
    report_version          TEXT,
    report_release_counter  INTEGER CHECK (report_release_counter >= 0),
    report_cli_version      TEXT,
    report_free_disk_bytes  INTEGER CHECK (report_free_disk_bytes >= 0),

    -- The last assignment issued; all NULL until the first one.
    assignment_sequence        INTEGER CHECK (assignment_sequence >= 0),
    assignment_release_digest  TEXT,
    assignment_expires         INTEGER,
    assignment_etag            TEXT,
    assignment_envelope        TEXT,

    FOREIGN KEY (app, channel) REFERENCES channels (app, name)
) STRICT;

-- revoke_license revokes every install of the license.
CREATE INDEX installs_by_license ON installs (license_id);
-- list_installs(Some(app)) in registration order.
CREATE INDEX installs_by_app ON installs (app, created_at);
-- list_installs(None) in registration order.
CREATE INDEX installs_by_created_at ON installs (created_at);

CREATE TABLE audit_log (
    seq        INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 1),
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    -- UNIQUE: two entries can never chain onto the same predecessor (no forks).
    prev_hash  TEXT    NOT NULL UNIQUE,
    hash       TEXT    NOT NULL UNIQUE
) STRICT;
