-- Indexes whose keys only grow pack their pages full. PostgreSQL leaves a B-tree leaf
-- 10% free (fillfactor 90) for keys that land inside it later; these indexes' new
-- keys come after every key already there (a registration time, a sequence number),
-- so the space would stay empty: about 17 bytes an install of a million.
--
-- * `installs_page` (created_at, id): registrations arrive in time order;
-- * `installs_page_by_app` (app, created_at, id): the same within each app;
-- * `audit_log_pkey` (seq): entries are numbered one after another.
--
-- The install id index (`installs_pkey`) keeps the default: ids are random.
ALTER INDEX installs_page SET (fillfactor = 100);
ALTER INDEX installs_page_by_app SET (fillfactor = 100);
ALTER INDEX audit_log_pkey SET (fillfactor = 100);
REINDEX INDEX installs_page;
REINDEX INDEX installs_page_by_app;
REINDEX INDEX audit_log_pkey;
