-- Under 1 KB of database per install, audit included. Numbered as the SQLite
-- migration that makes the same change.
--
-- The audit log keeps each entry's hash as 32 bytes, and no longer the previous
-- entry's hash: it is the hash of the entry before (seq - 1), and appends, serialised
-- by the chain's advisory lock and numbered one after the other, cannot fork the
-- chain. No hash is unique-indexed any more (two indexes of 64-character keys per
-- entry). Entry hashes are computed exactly as before, so `audit verify` is unchanged.
-- Changing the column's type rewrites the table, which also reclaims the dropped one.
ALTER TABLE audit_log DROP COLUMN prev_hash;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_hash_key;
ALTER TABLE audit_log ALTER COLUMN hash TYPE BYTEA USING decode(hash, 'hex');
ALTER TABLE audit_log ADD CONSTRAINT audit_log_hash_length CHECK (length(hash) = 32);

-- The last assignment, compactly: what its signed envelope is rebuilt from (see the
-- store crate's `assignment_codec`, shared with SQLite). When it is set,
-- `assignment_envelope` and `assignment_etag` are NULL (the ETag is the digest of the
-- rebuilt envelope); an envelope that does not rebuild byte for byte is kept whole
-- instead. Existing rows keep their envelopes.
ALTER TABLE installs ADD COLUMN assignment_compact BYTEA;
