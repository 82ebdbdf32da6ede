-- Lists that scale: keyset pages of the fleet, and a fleet summary the database counts
-- from one index without reading an install's row.

-- The fleet's order is (created_at, id): the id breaks ties between installs registered
-- in the same second, so a cursor names one position exactly.
CREATE INDEX installs_page ON installs (created_at, id);
CREATE INDEX installs_page_by_app ON installs (app, created_at, id);

-- Covers the summary: grouped in this order the count walks the index once and never
-- sorts. The channel comes after the report so that lookups of one channel's installs
-- keep using installs_by_channel.
CREATE INDEX installs_summary
    ON installs (app, report_version, report_status, report_reason, channel, uninstalled_at);
