//! Installs' status transitions (written by the trigger of migration 0014 when a
//! report changes the status): read for the dashboard, pruned after the retention.

use driftless_store::{StatusTransition, StoreResult};
use sqlx::SqlitePool;

use crate::error::backend;

type Row = (i64, Option<String>, String, Option<String>, Option<String>);

pub(crate) async fn status_transitions(
    pool: &SqlitePool,
    install_id: &str,
    limit: u32,
) -> StoreResult<Vec<StatusTransition>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT at, from_status, to_status, version, reason FROM status_transitions
         WHERE install_id = ?1 ORDER BY id DESC LIMIT ?2",
    )
    .bind(install_id)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    Ok(rows
        .into_iter()
        .map(
            |(at, from_status, to_status, version, reason)| StatusTransition {
                at,
                from_status,
                to_status,
                version,
                reason,
            },
        )
        .collect())
}

pub(crate) async fn prune_status_transitions(pool: &SqlitePool, before: i64) -> StoreResult<u64> {
    Ok(sqlx::query("DELETE FROM status_transitions WHERE at < ?1")
        .bind(before)
        .execute(pool)
        .await
        .map_err(backend)?
        .rows_affected())
}
