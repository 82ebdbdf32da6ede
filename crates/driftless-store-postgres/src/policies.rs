//! Channel promotion policies: one JSON document per channel.

use driftless_store::{StoreError, StoreResult};
use sqlx::{PgConnection, PgPool};

use crate::error::backend;

pub(crate) async fn set_channel_policy(
    conn: &mut PgConnection,
    app: &str,
    channel: &str,
    policy_json: &str,
    now: i64,
) -> StoreResult<()> {
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT name FROM channels WHERE app = $1 AND name = $2")
            .bind(app)
            .bind(channel)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
    if exists.is_none() {
        return Err(StoreError::Missing {
            what: format!("channel `{app}/{channel}`"),
        });
    }
    sqlx::query(
        "INSERT INTO channel_policies (app, channel, policy, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (app, channel) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at",
    )
    .bind(app)
    .bind(channel)
    .bind(policy_json)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(())
}

pub(crate) async fn channel_policy(
    pool: &PgPool,
    app: &str,
    channel: &str,
) -> StoreResult<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT policy FROM channel_policies WHERE app = $1 AND channel = $2")
            .bind(app)
            .bind(channel)
            .fetch_optional(pool)
            .await
            .map_err(backend)?;
    Ok(row.map(|(p,)| p))
}
