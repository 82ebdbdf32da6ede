//! The change feed (filled by the triggers of migration 0007) and the batched
//! heartbeat writes of the check-in hot path.

use driftless_store::{Change, ChangeKind, Heartbeat, StoreError, StoreResult};
use sqlx::sqlite::SqliteConnection;
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

/// Moves each listed install's last report time and newest request time forward, never
/// back: one statement for a whole batch (`?1` is a JSON array of `[id, at, ms]`), so a
/// flush is one round trip to the database, not one per install.
const RECORD_HEARTBEATS: &str = "UPDATE installs SET
        report_at = MAX(COALESCE(report_at, b.at), b.at),
        newest_request_ms = MAX(COALESCE(newest_request_ms, b.ms), b.ms)
     FROM (SELECT value ->> 0 AS id, value ->> 1 AS at, value ->> 2 AS ms
           FROM json_each(?1)) AS b
     WHERE installs.id = b.id";

/// Heartbeats per statement, each statement its own transaction. The batch connection
/// runs at nice 19 (see [`crate::low_priority`]): on a saturated core it gets a sliver
/// of it, and holds SQLite's write lock for as long as its statement takes, so a
/// request that must write waits that long. And once it has the core, the scheduler
/// lets it keep it for its whole slice (milliseconds) or until it waits for its next
/// statement: a short statement gives the core back sooner. At about 10 µs of CPU per
/// row on a million-install file, 32 rows take about a third of a millisecond; with 256,
/// `scripts/bench` saw the batch hold the core for 2 to 4 ms at a time (the check-ins'
/// queue then stood past the 2 ms shedding limit tried), and with 5,000 it held the
/// lock past the 5 s busy timeout, so check-ins waiting to write were answered `503`.
const BATCH: usize = 32;

pub(crate) async fn record_heartbeats(
    conn: &mut SqliteConnection,
    beats: &[Heartbeat],
) -> StoreResult<()> {
    for chunk in beats.chunks(BATCH) {
        let rows: Vec<(&str, i64, i64)> = chunk
            .iter()
            .map(|b| (b.install_id.as_str(), b.at, b.signed_at_ms))
            .collect();
        let json = serde_json::to_string(&rows)
            .map_err(|e| StoreError::Backend(format!("cannot encode heartbeats: {e}")))?;
        sqlx::query(RECORD_HEARTBEATS)
            .bind(json)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::query_plan::plan;

    #[tokio::test]
    async fn a_heartbeat_batch_finds_each_install_by_primary_key() {
        let store = crate::SqliteStore::open("sqlite::memory:").await.unwrap();
        let steps = plan(&store.pool, RECORD_HEARTBEATS).await;
        let installs: Vec<_> = steps.iter().filter(|s| s.contains("installs")).collect();
        assert_eq!(installs.len(), 1, "{steps:?}");
        assert!(
            installs[0].starts_with("SEARCH") && installs[0].contains("(id=?)"),
            "{steps:?}"
        );
    }
}
