-- What a license allows: expiry and grace, seats, the channels its installs may follow,
-- and its entitlements (JSON). The defaults allow everything, forever, as before.
ALTER TABLE licenses ADD COLUMN expires_at BIGINT;
ALTER TABLE licenses ADD COLUMN grace_s BIGINT NOT NULL DEFAULT 0;
ALTER TABLE licenses ADD COLUMN seats BIGINT;
ALTER TABLE licenses ADD COLUMN channels TEXT NOT NULL DEFAULT '[]';
ALTER TABLE licenses ADD COLUMN entitlements TEXT NOT NULL DEFAULT '{}';

-- A check-in's answer depends on its license's terms: every install of a license whose
-- terms changed is named in the change feed, so every replica drops what it cached.
CREATE FUNCTION driftless_license_changed() RETURNS TRIGGER
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM driftless_append_change('install', i.id) FROM installs i
        WHERE i.license_id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER licenses_terms_changed
AFTER UPDATE OF expires_at, grace_s, channels, entitlements ON licenses
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION driftless_license_changed();
