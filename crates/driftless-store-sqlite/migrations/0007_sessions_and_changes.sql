-- Check-in sessions: one per install at most, on the install's own row (no table or
-- index of their own: a few dozen bytes per install); a new one replaces the old.
-- `session_key` is the HMAC key the install and the control plane share until
-- `session_expires_at`. All NULL until the install's first session.
ALTER TABLE installs ADD COLUMN session_id TEXT;
ALTER TABLE installs ADD COLUMN session_key BLOB CHECK (length(session_key) = 32);
ALTER TABLE installs ADD COLUMN session_expires_at INTEGER;

-- The change feed: every change a replica may have cached, written by triggers in the
-- same transaction as the change itself, so a committed change is never missing from
-- it (not even when the process that made it dies right after). Replicas poll it and
-- drop what they cached of each entry. AUTOINCREMENT: positions are never reused
-- after old entries are pruned.
CREATE TABLE changes (
    seq  INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    kind TEXT    NOT NULL CHECK (kind IN ('install', 'channel', 'app')),
    key  TEXT    NOT NULL,
    at   INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT;

CREATE INDEX changes_by_at ON changes (at);

-- An install's check-in answer depends on these columns only; the check-in's own
-- writes (report_*, assignment_*, newest_request_ms) do not fire it.
-- (A new session is one too: a replica that cached the old one drops it.)
CREATE TRIGGER installs_changed
AFTER UPDATE OF revoked, channel, uninstalled_at, public_key, session_id ON installs BEGIN
    INSERT INTO changes (kind, key) VALUES ('install', NEW.id);
END;

CREATE TRIGGER channels_changed AFTER UPDATE ON channels BEGIN
    INSERT INTO changes (kind, key) VALUES ('channel', NEW.app || '/' || NEW.name);
END;

CREATE TRIGGER rollouts_inserted AFTER INSERT ON rollouts BEGIN
    INSERT INTO changes (kind, key) VALUES ('channel', NEW.app || '/' || NEW.channel);
END;

CREATE TRIGGER rollouts_updated AFTER UPDATE ON rollouts BEGIN
    INSERT INTO changes (kind, key) VALUES ('channel', NEW.app || '/' || NEW.channel);
END;

CREATE TRIGGER releases_state_changed AFTER UPDATE OF state ON releases BEGIN
    INSERT INTO changes (kind, key) VALUES ('app', NEW.app);
END;
