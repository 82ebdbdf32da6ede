//! Check-in sessions: one row per install, replaced whole when the install opens a new
//! one.

use driftless_store::{StoreError, StoreResult, StoredSession};
use sqlx::SqlitePool;

use crate::error::backend;

/// Inserts or replaces the install's session, only if the install exists.
const PUT_SESSION: &str = "INSERT INTO sessions (install_id, session_id, key, expires_at)
     SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM installs WHERE id = ?1)
     ON CONFLICT (install_id) DO UPDATE SET
        session_id = excluded.session_id, key = excluded.key, expires_at = excluded.expires_at";

pub(crate) async fn put_session(pool: &SqlitePool, session: &StoredSession) -> StoreResult<()> {
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

pub(crate) async fn get_session(
    pool: &SqlitePool,
    install_id: &str,
) -> StoreResult<Option<StoredSession>> {
    let row: Option<(String, Vec<u8>, i64)> =
        sqlx::query_as("SELECT session_id, key, expires_at FROM sessions WHERE install_id = ?1")
            .bind(install_id)
            .fetch_optional(pool)
            .await
            .map_err(backend)?;
    let Some((session_id, key, expires_at)) = row else {
        return Ok(None);
    };
    let key: [u8; 32] = key.try_into().map_err(|_| {
        StoreError::Backend(format!(
            "session of install `{install_id}` has a malformed key"
        ))
    })?;
    Ok(Some(StoredSession {
        install_id: install_id.to_string(),
        session_id,
        key,
        expires_at,
    }))
}
