-- Replicas: what several `serve` processes on one database share besides the data.
-- Numbered as the SQLite migration that adds the same tables.

-- Each published trust state: every root version up to `root_version` (a JSON array of
-- envelope texts, oldest first) and the online private keys that root trusts. The
-- newest row is in force; the primary key makes one publish of a version win.
CREATE TABLE trust_states (
    root_version   BIGINT PRIMARY KEY,
    roots          TEXT   NOT NULL,
    director_pem   TEXT   NOT NULL,
    token_key_pem  TEXT   NOT NULL,
    token_cert_pem TEXT   NOT NULL
);

-- Uploaded artifacts (CLI binaries), content-addressed.
CREATE TABLE artifacts (
    digest     TEXT   PRIMARY KEY,
    size       BIGINT NOT NULL,
    bytes      BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);

-- Leases: which replica runs a singleton job (the rollout ticker) until when.
CREATE TABLE leases (
    name       TEXT   PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_ms BIGINT NOT NULL
);
