//! What several control-plane replicas share through the database besides the data:
//! the trust state (root chain and online keys), uploaded artifacts, and leases for
//! jobs only one replica may run at a time.

use driftless_store::{StoreError, StoreResult, TrustState};
use sqlx::{PgConnection, PgPool};

use crate::error::{backend, from_db, to_db};

/// Serialises publishes, so "newer than every stored version" holds at commit.
const PUBLISH_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('driftless.trust_states'))";

/// Inserts a trust state only above every stored version.
const PUBLISH_TRUST: &str = "INSERT INTO trust_states
        (root_version, roots, director_pem, token_key_pem, token_cert_pem, checkpoint_pem)
     SELECT $1, $2, $3, $4, $5, $6
     WHERE NOT EXISTS (SELECT 1 FROM trust_states WHERE root_version >= $1)";

pub(crate) async fn publish_trust(pool: &PgPool, state: &TrustState) -> StoreResult<bool> {
    let roots = serde_json::to_string(&state.roots)
        .map_err(|e| StoreError::Backend(format!("cannot encode the root chain: {e}")))?;
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query(PUBLISH_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let done = sqlx::query(PUBLISH_TRUST)
        .bind(to_db(state.root_version, "root version")?)
        .bind(roots)
        .bind(&state.director_pem)
        .bind(&state.token_key_pem)
        .bind(&state.token_cert_pem)
        .bind(&state.checkpoint_pem)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    tx.commit().await.map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

type TrustRow = (i64, String, String, String, String, Option<String>);

pub(crate) async fn trust_state(pool: &PgPool) -> StoreResult<Option<TrustState>> {
    let row: Option<TrustRow> = sqlx::query_as(
        "SELECT root_version, roots, director_pem, token_key_pem, token_cert_pem, checkpoint_pem
         FROM trust_states ORDER BY root_version DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    let Some((version, roots, director_pem, token_key_pem, token_cert_pem, checkpoint_pem)) = row
    else {
        return Ok(None);
    };
    let roots: Vec<String> = serde_json::from_str(&roots).map_err(|e| {
        StoreError::Backend(format!(
            "stored root chain of version {version} is corrupt: {e}"
        ))
    })?;
    Ok(Some(TrustState {
        root_version: from_db(version, "root version")?,
        roots,
        director_pem,
        token_key_pem,
        token_cert_pem,
        checkpoint_pem,
    }))
}

pub(crate) async fn trust_version(pool: &PgPool) -> StoreResult<u64> {
    let (v,): (i64,) =
        sqlx::query_as("SELECT COALESCE(MAX(root_version), 0)::BIGINT FROM trust_states")
            .fetch_one(pool)
            .await
            .map_err(backend)?;
    from_db(v, "root version")
}

pub(crate) async fn put_artifact(
    conn: &mut PgConnection,
    digest: &str,
    bytes: &[u8],
    now: i64,
) -> StoreResult<bool> {
    let size = to_db(bytes.len() as u64, "artifact size")?;
    let done = sqlx::query(
        "INSERT INTO artifacts (digest, size, bytes, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (digest) DO NOTHING",
    )
    .bind(digest)
    .bind(size)
    .bind(bytes)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn get_artifact(pool: &PgPool, digest: &str) -> StoreResult<Option<Vec<u8>>> {
    let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT bytes FROM artifacts WHERE digest = $1")
        .bind(digest)
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    Ok(row.map(|(b,)| b))
}

/// Takes a free or expired lease, or renews one's own, in one conditional upsert.
const TRY_LEASE: &str = "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
     WHERE leases.holder = excluded.holder OR leases.expires_ms <= $4";

pub(crate) async fn try_lease(
    pool: &PgPool,
    name: &str,
    holder: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(TRY_LEASE)
        .bind(name)
        .bind(holder)
        .bind(now_ms.saturating_add(ttl_ms))
        .bind(now_ms)
        .execute(pool)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}
