-- Check-in sessions and the change feed. Numbered as the SQLite migration that adds
-- the same columns, table and triggers.

-- Check-in sessions: one per install at most, on the install's own row (no table or
-- index of their own); a new one replaces the old. `session_key` is the HMAC key the
-- install and the control plane share until `session_expires_at`. All NULL until the
-- install's first session.
ALTER TABLE installs ADD COLUMN session_id TEXT;
ALTER TABLE installs ADD COLUMN session_key BYTEA CHECK (length(session_key) = 32);
ALTER TABLE installs ADD COLUMN session_expires_at BIGINT;

-- The change feed: every change a replica may have cached, written by triggers in the
-- same transaction as the change itself, so a committed change is never missing from
-- it. Replicas poll it and drop what they cached of each entry. An identity column:
-- positions are never reused after old entries are pruned.
CREATE TABLE changes (
    seq  BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT    NOT NULL CHECK (kind IN ('install', 'channel', 'app')),
    key  TEXT    NOT NULL,
    at   BIGINT  NOT NULL DEFAULT (extract(epoch FROM clock_timestamp())::BIGINT)
);

CREATE INDEX changes_by_at ON changes (at);

-- Appends one entry to the feed. A sequence alone numbers entries in the order they
-- were drawn, not the order they commit: a reader could see seq 8 committed, move its
-- cursor past it, and never see seq 7 committed a moment later. So every writer first
-- takes one transaction-level advisory lock ("changes" in ASCII), held until it
-- commits: the next writer draws its number only after the previous one is visible,
-- and numbers are in commit order. Changes are rare vendor actions, so the wait is
-- nothing; the check-in's own writes never come here.
--
-- The triggers are deferred to commit: the lock is taken after the transaction's last
-- statement, when it waits for no row lock any more, so two transactions can never
-- each hold one of the lock and a row the other needs (a deadlock).
CREATE FUNCTION driftless_append_change(change_kind TEXT, change_key TEXT) RETURNS VOID
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(27980790367741299);
    INSERT INTO changes (kind, key) VALUES (change_kind, change_key);
END;
$$;

-- An install's check-in answer depends on these columns only; the check-in's own
-- writes (report_*, assignment_*, newest_request_ms) do not fire it. (A new session is
-- one too: a replica that cached the old one drops it.)
CREATE FUNCTION driftless_install_changed() RETURNS TRIGGER
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM driftless_append_change('install', NEW.id);
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER installs_changed
AFTER UPDATE OF revoked, channel, uninstalled_at, public_key, session_id ON installs
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION driftless_install_changed();

-- A channel changed (its release), or a rollout of it was created or changed.
CREATE FUNCTION driftless_channel_changed() RETURNS TRIGGER
    LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_TABLE_NAME = 'channels' THEN
        PERFORM driftless_append_change('channel', NEW.app || '/' || NEW.name);
    ELSE
        PERFORM driftless_append_change('channel', NEW.app || '/' || NEW.channel);
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER channels_changed
AFTER UPDATE ON channels
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION driftless_channel_changed();

CREATE CONSTRAINT TRIGGER rollouts_inserted
AFTER INSERT ON rollouts
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION driftless_channel_changed();

CREATE CONSTRAINT TRIGGER rollouts_updated
AFTER UPDATE ON rollouts
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION driftless_channel_changed();

-- A release's state changed: every channel of its app may answer differently.
CREATE FUNCTION driftless_release_changed() RETURNS TRIGGER
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM driftless_append_change('app', NEW.app);
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER releases_state_changed
AFTER UPDATE OF state ON releases
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION driftless_release_changed();
