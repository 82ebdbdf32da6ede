-- The fleet-page indexes of 0008 start with the same columns as these two, so these
-- only cost space (about 80 bytes an install) and a write each.
DROP INDEX installs_by_app;
DROP INDEX installs_by_created_at;
