//! Support bundles installs upload: stored whole, listed and read back per install.

use driftless_store::{StoreError, StoreResult, SupportBundleInfo};
use sqlx::{PgConnection, PgPool};

use crate::error::{backend, from_db, to_db};

/// Inserts the bundle only if its install exists, so a missing one is told apart.
const PUT: &str = "INSERT INTO support_bundles (install_id, size, digest, bytes, created_at)
     SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM installs WHERE id = $1)
     RETURNING id";

const COLUMNS: &str = "id, install_id, size, digest, created_at";

type InfoRow = (i64, String, i64, String, i64);

fn info((id, install_id, size, digest, created_at): InfoRow) -> StoreResult<SupportBundleInfo> {
    Ok(SupportBundleInfo {
        id: from_db(id, "support bundle id")?,
        install_id,
        size: from_db(size, "support bundle size")?,
        digest,
        created_at,
    })
}

pub(crate) async fn put_support_bundle(
    conn: &mut PgConnection,
    install_id: &str,
    bytes: &[u8],
    digest: &str,
    now: i64,
) -> StoreResult<SupportBundleInfo> {
    let size = to_db(bytes.len() as u64, "support bundle size")?;
    let row: Option<(i64,)> = sqlx::query_as(PUT)
        .bind(install_id)
        .bind(size)
        .bind(digest)
        .bind(bytes)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    let Some((id,)) = row else {
        return Err(StoreError::Missing {
            what: format!("install `{install_id}`"),
        });
    };
    info((id, install_id.to_string(), size, digest.to_string(), now))
}

pub(crate) async fn list_support_bundles(
    pool: &PgPool,
    install_id: &str,
) -> StoreResult<Vec<SupportBundleInfo>> {
    let rows: Vec<InfoRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM support_bundles WHERE install_id = $1 ORDER BY id DESC"
    ))
    .bind(install_id)
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    rows.into_iter().map(info).collect()
}

pub(crate) async fn get_support_bundle(
    pool: &PgPool,
    install_id: &str,
    id: u64,
) -> StoreResult<Option<(SupportBundleInfo, Vec<u8>)>> {
    let row: Option<(i64, String, i64, String, i64, Vec<u8>)> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, bytes FROM support_bundles WHERE install_id = $1 AND id = $2"
    ))
    .bind(install_id)
    .bind(to_db(id, "support bundle id")?)
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    row.map(|(id, install_id, size, digest, created_at, bytes)| {
        Ok((info((id, install_id, size, digest, created_at))?, bytes))
    })
    .transpose()
}
