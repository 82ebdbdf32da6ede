-- Support bundles installs upload (`driftless support-bundle --upload`), kept in the
-- database so every replica lists and serves every upload. Numbered as the SQLite
-- migration that makes the same change.
CREATE TABLE support_bundles (
    id         BIGSERIAL PRIMARY KEY,
    install_id TEXT   NOT NULL REFERENCES installs (id),
    size       BIGINT NOT NULL,
    digest     TEXT   NOT NULL,
    bytes      BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX support_bundles_by_install ON support_bundles (install_id, id);
