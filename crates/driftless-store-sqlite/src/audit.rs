//! The tamper-evident audit log: each entry's hash covers the previous entry's hash
//! (the chain is defined once, in [`driftless_store::audit_chain`]).

use driftless_store::audit_actor::{actor_from_stored, stored_actor};
use driftless_store::{AuditEntry, AuditEvent, StoreError, StoreResult, StoredCheckpoint};
use sqlx::{SqliteConnection, SqlitePool};

use crate::error::{backend, from_db, to_db};

/// The hash an entry with this predecessor and event must carry.
pub(crate) fn entry_hash(prev_hash: &str, event: &AuditEvent) -> StoreResult<String> {
    Ok(driftless_store::audit_chain::entry_hash(prev_hash, event))
}

/// The `prev_hash` of the first entry.
pub(crate) const GENESIS_HASH: &str = driftless_store::audit_chain::GENESIS_HASH;

pub(crate) async fn append_audit(pool: &SqlitePool, event: &AuditEvent) -> StoreResult<()> {
    // IMMEDIATE takes the write lock before reading the head, so two appends cannot
    // both chain onto the same entry (nor take the same seq, its primary key).
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
    append_in(&mut tx, event).await?;
    tx.commit().await.map_err(backend)
}

/// Appends `event` on the caller's transaction, which must hold the write lock
/// (`BEGIN IMMEDIATE`) so the head it chains onto cannot move before it commits.
pub(crate) async fn append_in(conn: &mut SqliteConnection, event: &AuditEvent) -> StoreResult<()> {
    let head: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
    let (seq, prev_hash) = match head {
        Some((seq, hash)) => {
            let next = seq
                .checked_add(1)
                .ok_or_else(|| StoreError::Backend("audit log sequence is exhausted".into()))?;
            (next, hex::encode(hash))
        }
        None => (1, GENESIS_HASH.to_owned()),
    };
    let hash = hex::decode(entry_hash(&prev_hash, event)?)
        .map_err(|e| StoreError::Backend(format!("audit hash is not hex: {e}")))?;
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, hash, request_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(seq)
    .bind(event.at)
    .bind(stored_actor(&event.actor, &event.subject)?)
    .bind(&event.action)
    .bind(&event.subject)
    .bind(&event.detail)
    .bind(&hash)
    .bind(&event.request_id)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    subject: String,
    detail: String,
    request_id: String,
    hash: Vec<u8>,
}

pub(crate) async fn list_audit(pool: &SqlitePool, limit: u32) -> StoreResult<Vec<AuditEntry>> {
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT seq, at, actor, action, subject, detail, request_id, hash
         FROM audit_log ORDER BY seq DESC LIMIT ?1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    rows.into_iter().map(AuditRow::into_entry).collect()
}

impl AuditRow {
    /// The stored entry this row holds.
    pub(crate) fn into_entry(self) -> StoreResult<AuditEntry> {
        Ok(AuditEntry {
            seq: from_db(self.seq, "audit sequence")?,
            event: AuditEvent {
                at: self.at,
                actor: actor_from_stored(self.actor, &self.subject),
                action: self.action,
                subject: self.subject,
                detail: self.detail,
                request_id: self.request_id,
            },
            hash: hex::encode(self.hash),
        })
    }
}

/// Stores a signed checkpoint; false when one of `tree_size` is stored already.
pub(crate) async fn save_checkpoint(
    pool: &SqlitePool,
    tree_size: u64,
    envelope: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO audit_checkpoints (tree_size, envelope) VALUES (?1, ?2)
         ON CONFLICT (tree_size) DO NOTHING",
    )
    .bind(to_db(tree_size, "checkpoint tree size")?)
    .bind(envelope)
    .execute(pool)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

/// The stored checkpoint of the largest tree size.
pub(crate) async fn latest_checkpoint(pool: &SqlitePool) -> StoreResult<Option<StoredCheckpoint>> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT tree_size, envelope FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    row.map(|(size, envelope)| {
        Ok(StoredCheckpoint {
            tree_size: from_db(size, "checkpoint tree size")?,
            envelope,
        })
    })
    .transpose()
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
            request_id: String::new(),
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
