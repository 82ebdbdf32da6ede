//! The tamper-evident audit log: each entry's hash covers the previous entry's hash
//! (the chain is defined once, in [`driftless_store::audit_chain`]).

use driftless_store::audit_actor::{actor_from_stored, stored_actor};
use driftless_store::{AuditEntry, AuditEvent, StoreError, StoreResult, StoredCheckpoint};
use sqlx::{PgConnection, PgPool};

use crate::error::{backend, from_db, to_db};

/// The advisory lock key that serialises appends to the chain ("audit" in ASCII).
const AUDIT_CHAIN_LOCK: i64 = 0x0061_7564_6974;

/// The hash an entry with this predecessor and event must carry.
pub(crate) fn entry_hash(prev_hash: &str, event: &AuditEvent) -> StoreResult<String> {
    Ok(driftless_store::audit_chain::entry_hash(prev_hash, event))
}

/// The `prev_hash` of the first entry.
pub(crate) const GENESIS_HASH: &str = driftless_store::audit_chain::GENESIS_HASH;

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
/// commits: appends form one chain, never a fork (and the primary key on `seq` would
/// refuse a second entry after the same predecessor anyway). An entry's predecessor is
/// the entry numbered one before it; its hash is stored as 32 bytes (migration 0010).
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
    let head: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
    let (mut seq, mut prev) = match head {
        Some((seq, hash)) => (seq, hex::encode(hash)),
        None => (0, GENESIS_HASH.to_owned()),
    };
    for chunk in events.chunks(ENTRIES_PER_STATEMENT) {
        let mut seqs = Vec::with_capacity(chunk.len());
        let mut hashes = Vec::with_capacity(chunk.len());
        for event in chunk {
            seq = seq
                .checked_add(1)
                .ok_or_else(|| StoreError::Backend("audit log sequence is exhausted".into()))?;
            prev = entry_hash(&prev, event)?;
            seqs.push(seq);
            hashes.push(
                hex::decode(&prev)
                    .map_err(|e| StoreError::Backend(format!("audit hash is not hex: {e}")))?,
            );
        }
        let column = |field: fn(&AuditEvent) -> &str| -> Vec<&str> {
            chunk.iter().map(|e| field(e)).collect()
        };
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, subject, detail, hash, request_id)
             SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[],
                                  $5::TEXT[], $6::TEXT[], $7::BYTEA[], $8::TEXT[])",
        )
        .bind(&seqs)
        .bind(chunk.iter().map(|e| e.at).collect::<Vec<i64>>())
        .bind(
            chunk
                .iter()
                .map(|e| stored_actor(&e.actor, &e.subject))
                .collect::<StoreResult<Vec<&str>>>()?,
        )
        .bind(column(|e| &e.action))
        .bind(column(|e| &e.subject))
        .bind(column(|e| &e.detail))
        .bind(&hashes)
        .bind(column(|e| &e.request_id))
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
    request_id: String,
    hash: Vec<u8>,
}

impl AuditRow {
    /// The entry this row holds.
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

pub(crate) async fn list_audit(pool: &PgPool, limit: u32) -> StoreResult<Vec<AuditEntry>> {
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT seq, at, actor, action, subject, detail, request_id, hash
         FROM audit_log ORDER BY seq DESC LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    rows.into_iter().map(AuditRow::into_entry).collect()
}

/// Stores a signed checkpoint; false when one of `tree_size` is stored already.
pub(crate) async fn save_checkpoint(
    pool: &PgPool,
    tree_size: u64,
    envelope: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO audit_checkpoints (tree_size, envelope) VALUES ($1, $2)
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
pub(crate) async fn latest_checkpoint(pool: &PgPool) -> StoreResult<Option<StoredCheckpoint>> {
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
    use driftless_store::Store;
    use driftless_test_support::postgres::fresh_database;
    use sqlx::migrate::Migrator;

    fn event(at: i64) -> AuditEvent {
        AuditEvent {
            at,
            actor: "operator".into(),
            action: "app.create".into(),
            subject: format!("app-{at}"),
            detail: "{}".into(),
            request_id: String::new(),
        }
    }

    /// Migration 0010 keeps every entry's hash (now as bytes), and appends made after it
    /// chain onto the last entry written before it.
    #[tokio::test]
    async fn the_compact_audit_log_keeps_the_chain_written_before_it() {
        let db = fresh_database().unwrap_or_else(|| panic!("this test needs PostgreSQL"));
        let pool = PgPool::connect(db.url()).await.unwrap();
        let before_0010 = Migrator {
            migrations: crate::MIGRATOR
                .iter()
                .filter(|m| m.version < 10)
                .cloned()
                .collect(),
            ..Migrator::DEFAULT
        };
        before_0010.run(&pool).await.unwrap();
        let first = entry_hash(GENESIS_HASH, &event(1)).unwrap();
        let second = entry_hash(&first, &event(2)).unwrap();
        for (seq, prev, hash) in [(1_i64, GENESIS_HASH, &first), (2, &first, &second)] {
            let e = event(seq);
            sqlx::query(
                "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(seq)
            .bind(e.at)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.subject)
            .bind(&e.detail)
            .bind(prev)
            .bind(hash)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;

        let store = crate::PgStore::open(db.url()).await.unwrap();
        store.append_audit(&event(3)).await.unwrap();
        let third = entry_hash(&second, &event(3)).unwrap();
        let hashes: Vec<String> = store
            .list_audit(10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.hash)
            .collect();
        assert_eq!(hashes, [third, second, first]);
    }

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
