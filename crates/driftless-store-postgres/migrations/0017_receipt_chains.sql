-- The last status receipt imported for each air-gapped install: the next one must name
-- it as its previous, so a fork or a gap in a host's receipts is refused. Numbered as
-- the SQLite migration that makes the same change.
CREATE TABLE receipt_chains (
    install_id TEXT   NOT NULL PRIMARY KEY REFERENCES installs (id),
    sequence   BIGINT NOT NULL,
    digest     TEXT   NOT NULL
);
