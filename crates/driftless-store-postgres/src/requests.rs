//! Replay protection for the install API: the newest signed request accepted from each
//! install, advanced by a compare-and-set in one statement so two concurrent requests
//! signed at the same time cannot both be accepted.

use driftless_store::{StoreError, StoreResult};
use sqlx::PgPool;

use crate::error::backend;

/// Advances the install's newest accepted request time, only forwards.
const ACCEPT_SIGNED_REQUEST: &str = "UPDATE installs SET newest_request_ms = $2
     WHERE id = $1 AND (newest_request_ms IS NULL OR newest_request_ms < $2)";

pub(crate) async fn accept_signed_request(
    pool: &PgPool,
    install_id: &str,
    signed_at_ms: i64,
) -> StoreResult<bool> {
    let updated = sqlx::query(ACCEPT_SIGNED_REQUEST)
        .bind(install_id)
        .bind(signed_at_ms)
        .execute(pool)
        .await
        .map_err(backend)?
        .rows_affected();
    if updated == 1 {
        return Ok(true);
    }
    // Only a refusal pays for the second read: a replay, or no such install.
    let known: Option<(i64,)> = sqlx::query_as("SELECT 1::BIGINT FROM installs WHERE id = $1")
        .bind(install_id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    match known {
        Some(_) => Ok(false),
        None => Err(StoreError::Missing {
            what: format!("install `{install_id}`"),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::query_plan::{assert_indexed, plan};

    #[tokio::test]
    async fn accepting_a_request_updates_one_row_by_primary_key() {
        let store = crate::tests::store().await;
        let steps = plan(&store.0.pool, ACCEPT_SIGNED_REQUEST, |q| {
            q.bind("x").bind(1_i64)
        })
        .await;
        assert_indexed(&steps);
        assert!(
            steps.iter().any(|s| s.contains("installs_pkey")),
            "{steps:#?}"
        );
    }
}
