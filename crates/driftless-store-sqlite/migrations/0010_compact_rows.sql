-- Under 1 KB of database per install, audit included.
--
-- The audit log keeps each entry's hash as 32 bytes, and no longer the previous
-- entry's hash: it is the hash of the entry before (seq - 1), and appends, which take
-- the write lock and number entries one after the other, cannot fork the chain. No
-- hash is unique-indexed any more (two indexes of 64-character keys per entry).
-- Entry hashes are computed exactly as before, so `audit verify` is unchanged.
CREATE TABLE audit_log_compact (
    seq      INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 1),
    at       INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    subject  TEXT    NOT NULL,
    detail   TEXT    NOT NULL,
    hash     BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;

INSERT INTO audit_log_compact (seq, at, actor, action, subject, detail, hash)
    SELECT seq, at, actor, action, subject, detail, unhex(hash) FROM audit_log;

DROP TABLE audit_log;
ALTER TABLE audit_log_compact RENAME TO audit_log;

-- The last assignment, compactly: what its signed envelope is rebuilt from (see
-- `assignment_codec.rs`). When it is set, `assignment_envelope` and `assignment_etag`
-- are NULL (the ETag is the digest of the rebuilt envelope); an envelope that does not
-- rebuild byte for byte is kept whole instead. Existing rows keep their envelopes.
ALTER TABLE installs ADD COLUMN assignment_compact BLOB;
