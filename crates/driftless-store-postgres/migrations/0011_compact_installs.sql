-- Under 1 KB of database per install on PostgreSQL too (SQLite's 0010 and 0011 did
-- the same there). The install table is rebuilt once, which:
--
-- * drops `installs_by_app` and `installs_by_created_at` (about 70 bytes an install):
--   the fleet-page indexes of 0008 start with the same columns, and the full fleet
--   list now orders by them (`created_at`, then the id), so `ord` goes too;
-- * stores the public key and the assigned release's digest packed (below): 32 bytes
--   and a tag instead of 64 or 71 characters of hex;
-- * orders the columns by alignment, eight-byte integers first, so no row pays the
--   padding PostgreSQL inserts before an integer that follows a text.

-- Packs a text that is mostly hex: tag 1 and 32 bytes for `sha256:<64 hex>`, tag 2
-- and the bytes for other lowercase hex of even length, tag 0 and the UTF-8 bytes for
-- anything else, so every text packs and unpacks to itself.
CREATE FUNCTION driftless_pack(value TEXT) RETURNS BYTEA
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
    WHEN value ~ '^sha256:[0-9a-f]{64}$' THEN '\x01'::BYTEA || decode(substr(value, 8), 'hex')
    WHEN value ~ '^([0-9a-f]{2})+$' THEN '\x02'::BYTEA || decode(value, 'hex')
    ELSE '\x00'::BYTEA || convert_to(value, 'UTF8')
END;

-- The text `driftless_pack` packed.
CREATE FUNCTION driftless_unpack(packed BYTEA) RETURNS TEXT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE get_byte(packed, 0)
    WHEN 1 THEN 'sha256:' || encode(substr(packed, 2), 'hex')
    WHEN 2 THEN encode(substr(packed, 2), 'hex')
    ELSE convert_from(substr(packed, 2), 'UTF8')
END;

CREATE TABLE installs_compact (
    created_at              BIGINT   NOT NULL,
    revoked_at              BIGINT,
    -- Set when the host said it removed the app; such an install is also revoked.
    uninstalled_at          BIGINT,
    -- The last check-in report; all NULL until the first check-in.
    report_at               BIGINT,
    report_release_counter  BIGINT CHECK (report_release_counter >= 0),
    report_free_disk_bytes  BIGINT CHECK (report_free_disk_bytes >= 0),
    -- The last assignment issued; all NULL until the first one.
    assignment_sequence     BIGINT CHECK (assignment_sequence >= 0),
    assignment_expires      BIGINT,
    -- Replay protection: the time of the newest signed request accepted from the
    -- install (Unix milliseconds); NULL until its first signed request.
    newest_request_ms       BIGINT,
    session_expires_at      BIGINT,
    revoked                 BOOLEAN  NOT NULL DEFAULT FALSE,
    id                      TEXT     NOT NULL PRIMARY KEY,
    license_id              TEXT     NOT NULL
        CONSTRAINT installs_license_id_fkey REFERENCES licenses (id),
    customer                TEXT     NOT NULL,
    app                     TEXT     NOT NULL,
    channel                 TEXT     NOT NULL,
    -- driftless_pack of the key's text.
    public_key              BYTEA    NOT NULL,
    hostname                TEXT     NOT NULL,
    platform                TEXT     NOT NULL,
    report_status           TEXT,
    report_version          TEXT,
    report_cli_version      TEXT,
    report_target_version   TEXT,
    report_reason           TEXT,
    report_policy           TEXT,
    report_waiting          TEXT,
    report_reason_code      TEXT GENERATED ALWAYS AS (driftless_reason_code(report_reason)) STORED,
    -- driftless_pack of the digest's text.
    assignment_release_digest  BYTEA,
    assignment_etag         TEXT,
    assignment_envelope     TEXT,
    assignment_compact      BYTEA,
    session_id              TEXT,
    session_key             BYTEA CHECK (length(session_key) = 32),
    CONSTRAINT installs_app_channel_fkey
        FOREIGN KEY (app, channel) REFERENCES channels (app, name)
);

INSERT INTO installs_compact (
    created_at, revoked_at, uninstalled_at, report_at, report_release_counter,
    report_free_disk_bytes, assignment_sequence, assignment_expires, newest_request_ms,
    session_expires_at, revoked, id, license_id, customer, app, channel, public_key,
    hostname, platform, report_status, report_version, report_cli_version,
    report_target_version, report_reason, report_policy, report_waiting,
    assignment_release_digest, assignment_etag, assignment_envelope, assignment_compact,
    session_id, session_key)
SELECT
    created_at, revoked_at, uninstalled_at, report_at, report_release_counter,
    report_free_disk_bytes, assignment_sequence, assignment_expires, newest_request_ms,
    session_expires_at, revoked, id, license_id, customer, app, channel,
    driftless_pack(public_key), hostname, platform, report_status, report_version,
    report_cli_version, report_target_version, report_reason, report_policy,
    report_waiting, driftless_pack(assignment_release_digest), assignment_etag,
    assignment_envelope, assignment_compact, session_id, session_key
FROM installs;

DROP TABLE installs;
ALTER TABLE installs_compact RENAME TO installs;
ALTER INDEX installs_compact_pkey RENAME TO installs_pkey;

-- revoke_license revokes every install of the license.
CREATE INDEX installs_by_license ON installs (license_id);
-- rollout_outcomes counts the installs of one channel.
CREATE INDEX installs_by_channel ON installs (app, channel);
-- The fleet's pages and full list (see 0008).
CREATE INDEX installs_page ON installs (created_at, id COLLATE "C");
CREATE INDEX installs_page_by_app ON installs (app, created_at, id COLLATE "C");
-- The fleet summary (see 0008).
CREATE INDEX installs_summary
    ON installs (app, report_version, report_status, report_reason_code, channel,
                 uninstalled_at);

-- The change feed's trigger (see 0007), on the new table.
CREATE CONSTRAINT TRIGGER installs_changed
AFTER UPDATE OF revoked, channel, uninstalled_at, public_key, session_id ON installs
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION driftless_install_changed();
