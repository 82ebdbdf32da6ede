-- An audit log that proves itself: each entry names the request that made it, and
-- signed checkpoints of the chain are kept.

-- The request id of the API call that made the change ('' for the control plane's own
-- work and for entries written before this column).
ALTER TABLE audit_log ADD COLUMN request_id TEXT NOT NULL DEFAULT '';

-- The checkpoint key (Ed25519 PKCS#8 PEM) the published root trusts; NULL for a trust
-- state published before checkpoints existed.
ALTER TABLE trust_states ADD COLUMN checkpoint_pem TEXT;

-- Signed checkpoints (tree size + head hash + time), one per tree size: replicas that
-- sign the same head at once store one of them.
CREATE TABLE audit_checkpoints (
    tree_size INTEGER PRIMARY KEY,
    envelope  TEXT    NOT NULL
);
