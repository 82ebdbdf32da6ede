-- The vendor's principals: users with a role and an optional app scope, and API
-- tokens kept by their SHA-256 only. Revoked rows stay, so the audit log's actors
-- keep meaning something.
CREATE TABLE users (
    name          TEXT    PRIMARY KEY,
    role          TEXT    NOT NULL,
    app           TEXT,
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
) STRICT;

CREATE TABLE api_tokens (
    id           TEXT    PRIMARY KEY,
    user_name    TEXT    REFERENCES users (name),
    role         TEXT    NOT NULL,
    app          TEXT,
    token_sha256 TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
) STRICT;
