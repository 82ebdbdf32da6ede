-- Support bundles installs upload (`driftless support-bundle --upload`), kept in the
-- database so every replica lists and serves every upload.
CREATE TABLE support_bundles (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    install_id TEXT    NOT NULL REFERENCES installs (id),
    size       INTEGER NOT NULL,
    digest     TEXT    NOT NULL,
    bytes      BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX support_bundles_by_install ON support_bundles (install_id, id);
