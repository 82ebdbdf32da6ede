-- The history of each install's reported status, for the dashboard's install page: one
-- row per change, written by the same statement that records the report (a trigger), so
-- a check-in that changes nothing writes nothing here and the check-in reads nothing.
-- An install's first report is no transition (registration is in the audit log): an
-- install that never changes status costs no row, which keeps a million installs in
-- under a gigabyte.
-- Pruned after the server's `status_history_retention_s`.
CREATE TABLE status_transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    install_id  TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    version     TEXT,
    reason      TEXT
);
CREATE INDEX status_transitions_by_install ON status_transitions (install_id, id);
CREATE INDEX status_transitions_by_time ON status_transitions (at);

CREATE TRIGGER installs_status_transition
AFTER UPDATE OF report_status ON installs
FOR EACH ROW WHEN NEW.report_status IS NOT NULL AND OLD.report_status IS NOT NULL
    AND NEW.report_status IS NOT OLD.report_status
BEGIN
    INSERT INTO status_transitions (install_id, at, from_status, to_status, version, reason)
    VALUES (NEW.id, COALESCE(NEW.report_at, 0), OLD.report_status, NEW.report_status,
            NEW.report_version, NEW.report_reason);
END;
