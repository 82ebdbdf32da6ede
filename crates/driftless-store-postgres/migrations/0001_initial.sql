-- The whole control-plane schema, equivalent to the SQLite backend's migrations
-- 0001..0006. Every lookup the `Store` trait does is a primary key or a unique or
-- secondary index; check-in state lives on the install row so the hot path is one
-- indexed SELECT and one UPDATE of one row.
--
-- Where SQLite orders rows by their rowid (several rows created in the same second),
-- the tables here carry an identity column `ord` for the same purpose.

CREATE TABLE apps (
    name        TEXT    NOT NULL PRIMARY KEY,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE releases (
    app              TEXT    NOT NULL REFERENCES apps (name),
    version          TEXT    NOT NULL,
    release_counter  BIGINT  NOT NULL CHECK (release_counter >= 0),
    digest           TEXT    NOT NULL,
    envelope         TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'active'
        CHECK (state IN ('active', 'deprecated', 'yanked')),
    PRIMARY KEY (app, version),
    UNIQUE (app, release_counter)
);

CREATE TABLE channels (
    app         TEXT    NOT NULL REFERENCES apps (name),
    name        TEXT    NOT NULL,
    -- NULL until the channel is first pointed at a release.
    version     TEXT,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (app, name),
    FOREIGN KEY (app, version) REFERENCES releases (app, version)
);

CREATE TABLE customers (
    name        TEXT    NOT NULL PRIMARY KEY,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE licenses (
    id          TEXT     NOT NULL PRIMARY KEY,
    customer    TEXT     NOT NULL REFERENCES customers (name),
    app         TEXT     NOT NULL,
    channel     TEXT     NOT NULL,
    key_hash    TEXT     NOT NULL UNIQUE,
    revoked     BOOLEAN  NOT NULL DEFAULT FALSE,
    revoked_at  BIGINT,
    created_at  BIGINT   NOT NULL,
    ord         BIGINT   GENERATED ALWAYS AS IDENTITY,
    FOREIGN KEY (app, channel) REFERENCES channels (app, name)
);

-- list_licenses, newest first.
CREATE INDEX licenses_by_created_at ON licenses (created_at, ord);

CREATE TABLE installs (
    id           TEXT     NOT NULL PRIMARY KEY,
    license_id   TEXT     NOT NULL REFERENCES licenses (id),
    customer     TEXT     NOT NULL,
    app          TEXT     NOT NULL,
    channel      TEXT     NOT NULL,
    public_key   TEXT     NOT NULL,
    hostname     TEXT     NOT NULL,
    platform     TEXT     NOT NULL,
    revoked      BOOLEAN  NOT NULL DEFAULT FALSE,
    revoked_at   BIGINT,
    created_at   BIGINT   NOT NULL,
    -- Set when the host said it removed the app; such an install is also revoked.
    uninstalled_at  BIGINT,
    ord          BIGINT   GENERATED ALWAYS AS IDENTITY,

    -- The last check-in report; all NULL until the first check-in.
    report_at               BIGINT,
    report_status           TEXT,
    report_version          TEXT,
    report_release_counter  BIGINT CHECK (report_release_counter >= 0),
    report_cli_version      TEXT,
    report_free_disk_bytes  BIGINT CHECK (report_free_disk_bytes >= 0),
    report_target_version   TEXT,
    report_reason           TEXT,
    report_policy           TEXT,
    report_waiting          TEXT,

    -- The last assignment issued; all NULL until the first one.
    assignment_sequence        BIGINT CHECK (assignment_sequence >= 0),
    assignment_release_digest  TEXT,
    assignment_expires         BIGINT,
    assignment_etag            TEXT,
    assignment_envelope        TEXT,

    -- Replay protection: the time of the newest signed request accepted from the
    -- install (Unix milliseconds); NULL until its first signed request.
    newest_request_ms  BIGINT,

    FOREIGN KEY (app, channel) REFERENCES channels (app, name)
);

-- revoke_license revokes every install of the license.
CREATE INDEX installs_by_license ON installs (license_id);
-- list_installs(Some(app)) in registration order.
CREATE INDEX installs_by_app ON installs (app, created_at, ord);
-- list_installs(None) in registration order.
CREATE INDEX installs_by_created_at ON installs (created_at, ord);
-- rollout_outcomes counts the installs of one channel.
CREATE INDEX installs_by_channel ON installs (app, channel);

-- Append-only: one row each time a channel is pointed at a release. `id` orders the
-- rows of a channel: it is drawn after the channel's row is locked by the update that
-- precedes the insert, so a channel's rows are numbered in commit order.
CREATE TABLE channel_history (
    id       BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app      TEXT    NOT NULL,
    channel  TEXT    NOT NULL,
    version  TEXT    NOT NULL,
    at       BIGINT  NOT NULL,
    FOREIGN KEY (app, channel) REFERENCES channels (app, name),
    FOREIGN KEY (app, version) REFERENCES releases (app, version)
);

CREATE INDEX channel_history_by_channel ON channel_history (app, channel, version, id);

CREATE TABLE rollouts (
    id                BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app               TEXT    NOT NULL,
    channel           TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    previous_version  TEXT,
    -- Cumulative percentages as a JSON array of integers, e.g. `[1,10,50,100]`.
    waves             TEXT    NOT NULL CHECK (json_typeof(waves::json) = 'array'),
    wave_index        BIGINT  NOT NULL CHECK (wave_index >= 0),
    wave_started_at   BIGINT  NOT NULL,
    -- NULL: waves open only on `advance`.
    interval_s        BIGINT,
    state             TEXT    NOT NULL
        CHECK (state IN ('running', 'paused', 'halted', 'aborted', 'completed')),
    min_failures      BIGINT  NOT NULL CHECK (min_failures >= 0),
    max_failure_pct   BIGINT  NOT NULL CHECK (max_failure_pct >= 0),
    reason            TEXT,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    -- Bumped by every update: changes are saved only at the revision they read.
    revision          BIGINT  NOT NULL DEFAULT 0 CHECK (revision >= 0),
    FOREIGN KEY (app, channel) REFERENCES channels (app, name),
    FOREIGN KEY (app, version) REFERENCES releases (app, version),
    FOREIGN KEY (app, previous_version) REFERENCES releases (app, version)
);

-- At most one active rollout per channel (a second one is a unique violation), and
-- the lookup the check-in read joins through.
CREATE UNIQUE INDEX rollouts_active_by_channel ON rollouts (app, channel)
    WHERE state IN ('running', 'paused', 'halted');
-- running_rollouts, for the background ticker.
CREATE INDEX rollouts_by_state ON rollouts (state);
-- list_rollouts(app), newest first.
CREATE INDEX rollouts_by_app ON rollouts (app, created_at, id);

CREATE TABLE audit_log (
    seq        BIGINT  NOT NULL PRIMARY KEY CHECK (seq >= 1),
    at         BIGINT  NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    -- UNIQUE: two entries can never chain onto the same predecessor (no forks).
    prev_hash  TEXT    NOT NULL UNIQUE,
    hash       TEXT    NOT NULL UNIQUE
);
