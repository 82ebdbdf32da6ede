//! The change feed (filled by the triggers of migration 0007) and the batched
//! heartbeat writes of the check-in hot path.

use driftless_store::{Change, ChangeKind, Heartbeat, StoreError, StoreResult};
use sqlx::SqlitePool;

use crate::error::backend;

pub(crate) async fn changes_since(
    pool: &SqlitePool,
    after_seq: i64,
    limit: u32,
) -> StoreResult<Vec<Change>> {
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT seq, kind, key FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(backend)?;
    rows.into_iter()
        .map(|(seq, kind, key)| {
            let kind = ChangeKind::parse(&kind).ok_or_else(|| {
                StoreError::Backend(format!("change #{seq} has an unknown kind `{kind}`"))
            })?;
            Ok(Change { seq, kind, key })
        })
        .collect()
}

pub(crate) async fn latest_change_seq(pool: &SqlitePool) -> StoreResult<i64> {
    let (seq,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM changes")
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    Ok(seq.unwrap_or(0))
}

pub(crate) async fn prune_changes(pool: &SqlitePool, before: i64) -> StoreResult<u64> {
    Ok(sqlx::query("DELETE FROM changes WHERE at < ?1")
        .bind(before)
        .execute(pool)
        .await
        .map_err(backend)?
        .rows_affected())
}

/// Moves an install's last report time and newest request time forward, never back.
const RECORD_HEARTBEAT: &str = "UPDATE installs SET
        report_at = MAX(COALESCE(report_at, ?2), ?2),
        newest_request_ms = MAX(COALESCE(newest_request_ms, ?3), ?3)
     WHERE id = ?1";

pub(crate) async fn record_heartbeats(pool: &SqlitePool, beats: &[Heartbeat]) -> StoreResult<()> {
    if beats.is_empty() {
        return Ok(());
    }
    // One transaction: one fsync for the whole batch.
    let mut tx = pool.begin().await.map_err(backend)?;
    for beat in beats {
        sqlx::query(RECORD_HEARTBEAT)
            .bind(&beat.install_id)
            .bind(beat.at)
            .bind(beat.signed_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::query_plan::{assert_indexed, plan};

    #[tokio::test]
    async fn a_heartbeat_updates_one_row_by_primary_key() {
        let store = crate::SqliteStore::open("sqlite::memory:").await.unwrap();
        assert_indexed(&plan(&store.pool, RECORD_HEARTBEAT).await);
    }
}
