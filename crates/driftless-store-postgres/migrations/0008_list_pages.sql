-- Lists that scale: keyset pages of the fleet, and a fleet summary the database counts
-- from one index without reading an install's row. Numbered as the SQLite migration
-- that adds the same indexes.

-- The fleet's order is (created_at, id): the id breaks ties between installs registered
-- in the same second, so a cursor names one position exactly. The id is ordered byte
-- by byte (collation "C"), as SQLite orders it, whatever the database's locale.
CREATE INDEX installs_page ON installs (created_at, id COLLATE "C");
CREATE INDEX installs_page_by_app ON installs (app, created_at, id COLLATE "C");

-- The code of a reported reason (`{"code": ..., "detail": ...}`); NULL when there is no
-- reason, or it is not JSON, or it has no code. Never fails, so a malformed reason can
-- never refuse a check-in.
CREATE FUNCTION driftless_reason_code(reason TEXT) RETURNS TEXT
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN reason::jsonb ->> 'code';
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;

-- The summary groups by the reason's code, not its text: the detail (a log's last lines)
-- is unbounded, and a B-tree entry must fit in a third of a page.
ALTER TABLE installs
    ADD COLUMN report_reason_code TEXT
        GENERATED ALWAYS AS (driftless_reason_code(report_reason)) STORED;

-- Covers the summary: grouped in this order the count is an index-only scan that never
-- sorts. The channel comes after the report so that lookups of one channel's installs
-- keep using installs_by_channel.
CREATE INDEX installs_summary
    ON installs (app, report_version, report_status, report_reason_code, channel,
                 uninstalled_at);
