//! The tamper-evident audit log: each entry's hash covers the previous entry's hash.
//!
//! `hash = hex(sha256(prev_hash || "\n" || canonical_json(event)))`, where the first
//! entry's `prev_hash` is 64 zeros and the canonical JSON is the event as a compact
//! object with its keys sorted: `{"action","actor","at","detail","subject"}`.

use driftless_store::{AuditEntry, AuditEvent, StoreError, StoreResult};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::error::{backend, from_db};

/// The advisory lock key that serialises appends to the chain ("audit" in ASCII).
const AUDIT_CHAIN_LOCK: i64 = 0x0061_7564_6974;

/// The `prev_hash` of the first entry.
const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The event with its fields in sorted key order, so the JSON does not depend on the
/// declaration order of `AuditEvent` or on serde_json's map features.
#[derive(Serialize)]
struct CanonicalEvent<'a> {
    action: &'a str,
    actor: &'a str,
    at: i64,
    detail: &'a str,
    subject: &'a str,
}

/// The hash an entry with this predecessor and event must carry.
fn entry_hash(prev_hash: &str, event: &AuditEvent) -> StoreResult<String> {
    let canonical = serde_json::to_string(&CanonicalEvent {
        action: &event.action,
        actor: &event.actor,
        at: event.at,
        detail: &event.detail,
        subject: &event.subject,
    })
    .map_err(|e| StoreError::Backend(format!("cannot encode audit event: {e}")))?;
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.as_bytes());
    Ok(hex::encode(hasher.finalize()))
}

pub(crate) async fn append_audit(pool: &PgPool, event: &AuditEvent) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(backend)?;
    append_in(&mut tx, event).await?;
    tx.commit().await.map_err(backend)
}

/// Appends `event` on the caller's transaction (see [`append_all_in`]).
pub(crate) async fn append_in(conn: &mut PgConnection, event: &AuditEvent) -> StoreResult<()> {
    append_all_in(conn, &[event]).await
}

/// Entries per INSERT of [`append_all_in`]: each column travels as one array.
const ENTRIES_PER_STATEMENT: usize = 10_000;

/// Appends `events`, in order, on the caller's transaction: the one place entries are
/// chained and written. It first takes the chain's transaction-scoped advisory lock,
/// held until the transaction ends, so the head it chains onto cannot move before it
/// commits: appends form one chain, never a fork (and the UNIQUE prev_hash would refuse
/// a fork anyway).
pub(crate) async fn append_all_in(
    conn: &mut PgConnection,
    events: &[&AuditEvent],
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AUDIT_CHAIN_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
    let (mut seq, mut prev) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
    for chunk in events.chunks(ENTRIES_PER_STATEMENT) {
        let mut seqs = Vec::with_capacity(chunk.len());
        let mut prev_hashes = Vec::with_capacity(chunk.len());
        let mut hashes = Vec::with_capacity(chunk.len());
        for event in chunk {
            seq = seq
                .checked_add(1)
                .ok_or_else(|| StoreError::Backend("audit log sequence is exhausted".into()))?;
            let hash = entry_hash(&prev, event)?;
            seqs.push(seq);
            prev_hashes.push(std::mem::replace(&mut prev, hash.clone()));
            hashes.push(hash);
        }
        let column = |field: fn(&AuditEvent) -> &str| -> Vec<&str> {
            chunk.iter().map(|e| field(e)).collect()
        };
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash)
             SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[],
                                  $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[])",
        )
        .bind(&seqs)
        .bind(chunk.iter().map(|e| e.at).collect::<Vec<i64>>())
        .bind(column(|e| &e.actor))
        .bind(column(|e| &e.action))
        .bind(column(|e| &e.subject))
        .bind(column(|e| &e.detail))
        .bind(&prev_hashes)
        .bind(&hashes)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// One row of the audit log as the lists read it.
#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    subject: String,
    detail: String,
    hash: String,
}

impl AuditRow {
    /// The entry this row holds.
    pub(crate) fn into_entry(self) -> StoreResult<AuditEntry> {
        Ok(AuditEntry {
            seq: from_db(self.seq, "audit sequence")?,
            event: AuditEvent {
                at: self.at,
                actor: self.actor,
                action: self.action,
                subject: self.subject,
                detail: self.detail,
            },
            hash: self.hash,
        })
    }
}

pub(crate) async fn list_audit(pool: &PgPool, limit: u32) -> StoreResult<Vec<AuditEntry>> {
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT seq, at, actor, action, subject, detail, hash
         FROM audit_log ORDER BY seq DESC LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    rows.into_iter().map(AuditRow::into_entry).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hash_covers_predecessor_and_every_field() {
        let event = AuditEvent {
            at: 1,
            actor: "operator".into(),
            action: "app.create".into(),
            subject: "acme".into(),
            detail: "{}".into(),
        };
        let base = entry_hash(GENESIS_HASH, &event).unwrap();
        assert_eq!(base.len(), 64);
        assert_ne!(entry_hash(&base, &event).unwrap(), base);
        let changed = AuditEvent {
            detail: "{\"x\":1}".into(),
            ..event.clone()
        };
        assert_ne!(entry_hash(GENESIS_HASH, &changed).unwrap(), base);
        let changed = AuditEvent { at: 2, ..event };
        assert_ne!(entry_hash(GENESIS_HASH, &changed).unwrap(), base);
    }
}
