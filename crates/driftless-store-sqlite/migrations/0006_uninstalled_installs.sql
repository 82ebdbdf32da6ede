-- `driftless uninstall`: the host told the control plane it removed the app. The
-- install is then also revoked (its key is refused) and the fleet view lists it only
-- when asked for. NULL while the install is in use.
ALTER TABLE installs ADD COLUMN uninstalled_at INTEGER;
