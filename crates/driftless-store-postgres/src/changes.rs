//! The change feed (filled by the triggers of migration 0007) and the batched
//! heartbeat writes of the check-in hot path.
//!
//! Feed order: an identity column numbers entries in the order they are drawn, which
//! is not the order they commit, and a reader that moved its cursor past a later
//! number that committed first would never see the earlier one. Rather than have every
//! reader re-read a window (how wide? a long transaction can hold its number for any
//! time), the writers are serialised: the feed's triggers are deferred to commit and
//! take one transaction-level advisory lock before they draw a number (see migration
//! 0007), so a number is drawn only once every smaller one is committed and visible,
//! and `changes_since(cursor)` can never skip one. It costs nothing that matters:
//! changes are rare vendor actions, and check-ins and heartbeats never write the feed.

use driftless_store::{Change, ChangeKind, Heartbeat, StoreError, StoreResult};
use sqlx::PgPool;

use crate::error::backend;

pub(crate) async fn changes_since(
    pool: &PgPool,
    after_seq: i64,
    limit: u32,
) -> StoreResult<Vec<Change>> {
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT seq, kind, key FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2")
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

pub(crate) async fn latest_change_seq(pool: &PgPool) -> StoreResult<i64> {
    let (seq,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM changes")
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    Ok(seq.unwrap_or(0))
}

pub(crate) async fn prune_changes(pool: &PgPool, before: i64) -> StoreResult<u64> {
    Ok(sqlx::query("DELETE FROM changes WHERE at < $1")
        .bind(before)
        .execute(pool)
        .await
        .map_err(backend)?
        .rows_affected())
}

/// Moves each listed install's last report time and newest request time forward, never
/// back: one statement for a whole batch (each column one array), so a flush is one
/// round trip, not one per install. The batch is grouped by install first (one row
/// each, its newest times), and the rows are locked in id order, so two replicas
/// flushing overlapping batches wait for each other instead of deadlocking.
const RECORD_HEARTBEATS: &str = "WITH b AS (
         SELECT id, MAX(at) AS at, MAX(ms) AS ms
         FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[]) AS t (id, at, ms)
         GROUP BY id
     ), locked AS (
         SELECT i.id FROM installs i JOIN b ON i.id = b.id ORDER BY i.id FOR UPDATE OF i
     )
     UPDATE installs SET
         report_at = GREATEST(installs.report_at, b.at),
         newest_request_ms = GREATEST(installs.newest_request_ms, b.ms)
     FROM b JOIN locked ON locked.id = b.id
     WHERE installs.id = b.id";

/// Heartbeats per statement: bounds one statement's arrays.
const BATCH: usize = 5000;

pub(crate) async fn record_heartbeats(pool: &PgPool, beats: &[Heartbeat]) -> StoreResult<()> {
    for chunk in beats.chunks(BATCH) {
        let ids: Vec<&str> = chunk.iter().map(|b| b.install_id.as_str()).collect();
        let at: Vec<i64> = chunk.iter().map(|b| b.at).collect();
        let ms: Vec<i64> = chunk.iter().map(|b| b.signed_at_ms).collect();
        sqlx::query(RECORD_HEARTBEATS)
            .bind(&ids)
            .bind(&at)
            .bind(&ms)
            .execute(pool)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::query_plan::{assert_indexed, plan};

    /// Two installs, `i-1` and `i-2`, of one app.
    async fn seed(pool: &PgPool) {
        for sql in [
            "INSERT INTO apps (name, created_at) VALUES ('acme', 0)",
            "INSERT INTO customers (name, created_at) VALUES ('c', 0)",
            "INSERT INTO channels (app, name, updated_at) VALUES ('acme', 'stable', 0)",
            "INSERT INTO licenses (id, customer, app, channel, key_hash, created_at)
             VALUES ('l', 'c', 'acme', 'stable', 'h', 0)",
            "INSERT INTO installs (id, license_id, customer, app, channel, public_key,
                                   hostname, platform, created_at)
             VALUES ('i-1', 'l', 'c', 'acme', 'stable', driftless_pack('k'), 'h', 'p', 0),
                    ('i-2', 'l', 'c', 'acme', 'stable', driftless_pack('k'), 'h', 'p', 0)",
        ] {
            sqlx::query(sql).execute(pool).await.unwrap();
        }
    }

    /// A change made first but committed last is numbered last: a reader whose cursor
    /// passed the other change's number still sees it.
    #[tokio::test]
    async fn the_feed_is_numbered_in_commit_order() {
        let (store, _db) = crate::tests::store().await;
        let pool = &store.pool;
        seed(pool).await;
        let mut first = pool.begin().await.unwrap();
        sqlx::query("UPDATE installs SET revoked = TRUE WHERE id = 'i-1'")
            .execute(&mut *first)
            .await
            .unwrap();
        // Made second, committed first (the first transaction is still open).
        sqlx::query("UPDATE installs SET revoked = TRUE WHERE id = 'i-2'")
            .execute(pool)
            .await
            .unwrap();
        let seen = changes_since(pool, 0, 10).await.unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].key, "i-2");
        let cursor = seen[0].seq;
        first.commit().await.unwrap();
        let after = changes_since(pool, cursor, 10).await.unwrap();
        assert_eq!(
            after.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(),
            ["i-1"],
            "the change committed last comes after the reader's cursor"
        );
    }

    /// A change rolled back leaves no entry.
    #[tokio::test]
    async fn a_rolled_back_change_is_not_in_the_feed() {
        let (store, _db) = crate::tests::store().await;
        let pool = &store.pool;
        seed(pool).await;
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("UPDATE installs SET revoked = TRUE WHERE id = 'i-1'")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert!(changes_since(pool, 0, 10).await.unwrap().is_empty());
    }

    /// A batch listing an install twice keeps its newest times.
    #[tokio::test]
    async fn a_batch_naming_an_install_twice_keeps_the_newest() {
        let (store, _db) = crate::tests::store().await;
        let pool = &store.pool;
        seed(pool).await;
        let beat = |at: i64| Heartbeat {
            install_id: "i-1".into(),
            at,
            signed_at_ms: at * 1000,
        };
        record_heartbeats(pool, &[beat(20), beat(10)])
            .await
            .unwrap();
        let row: (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT report_at, newest_request_ms FROM installs WHERE id = 'i-1'")
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(row, (Some(20), Some(20_000)));
    }

    #[tokio::test]
    async fn a_heartbeat_batch_finds_each_install_by_primary_key() {
        let (store, _db) = crate::tests::store().await;
        let steps = plan(&store.pool, RECORD_HEARTBEATS, |q| {
            q.bind(vec!["x"]).bind(vec![1_i64]).bind(vec![1_i64])
        })
        .await;
        assert_indexed(&steps);
        assert!(
            steps.iter().any(|s| s.contains("installs_pkey")),
            "{steps:#?}"
        );
    }

    #[tokio::test]
    async fn the_feed_is_read_by_its_primary_key() {
        let (store, _db) = crate::tests::store().await;
        let steps = plan(
            &store.pool,
            "SELECT seq, kind, key FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
            |q| q.bind(1_i64).bind(10_i64),
        )
        .await;
        assert_indexed(&steps);
    }
}
