//! Check-in sessions: three columns of the install's row, replaced whole when the
//! install opens a new one.

use driftless_store::{StoreError, StoreResult, StoredSession};
use sqlx::PgPool;

use crate::error::backend;

/// Replaces the install's session, only if the install exists.
const PUT_SESSION: &str = "UPDATE installs
     SET session_id = $2, session_key = $3, session_expires_at = $4 WHERE id = $1";

pub(crate) async fn put_session(pool: &PgPool, session: &StoredSession) -> StoreResult<()> {
    let written = sqlx::query(PUT_SESSION)
        .bind(&session.install_id)
        .bind(&session.session_id)
        .bind(&session.key[..])
        .bind(session.expires_at)
        .execute(pool)
        .await
        .map_err(backend)?
        .rows_affected();
    if written == 0 {
        return Err(StoreError::Missing {
            what: format!("install `{}`", session.install_id),
        });
    }
    Ok(())
}

/// An install's session columns, all NULL until its first session.
type SessionColumns = (Option<String>, Option<Vec<u8>>, Option<i64>);

pub(crate) async fn get_session(
    pool: &PgPool,
    install_id: &str,
) -> StoreResult<Option<StoredSession>> {
    let row: Option<SessionColumns> = sqlx::query_as(
        "SELECT session_id, session_key, session_expires_at FROM installs WHERE id = $1",
    )
    .bind(install_id)
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    let Some((session_id, key, expires_at)) = row else {
        return Ok(None);
    };
    StoredSession::from_columns(install_id, session_id, key, expires_at)
}
