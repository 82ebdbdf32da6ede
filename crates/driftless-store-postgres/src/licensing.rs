//! Who may install what: customers and their licenses.

use driftless_store::{Customer, Install, License, LicenseTerms, StoreError, StoreResult};
use sqlx::{PgConnection, PgPool};

use crate::catalog::{app_exists, channel_exists, exists};
use crate::error::{backend, conflict_or_backend};

pub(crate) async fn create_customer(
    conn: &mut PgConnection,
    name: &str,
    now: i64,
) -> StoreResult<Customer> {
    sqlx::query("INSERT INTO customers (name, created_at) VALUES ($1, $2)")
        .bind(name)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict_or_backend(e, || format!("customer `{name}`")))?;
    Ok(Customer {
        name: name.to_owned(),
        created_at: now,
    })
}

pub(crate) async fn list_customers(pool: &PgPool) -> StoreResult<Vec<Customer>> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, created_at FROM customers ORDER BY name")
            .fetch_all(pool)
            .await
            .map_err(backend)?;
    Ok(rows
        .into_iter()
        .map(|(name, created_at)| Customer { name, created_at })
        .collect())
}

pub(crate) async fn get_customer(pool: &PgPool, name: &str) -> StoreResult<Option<Customer>> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT name, created_at FROM customers WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await
            .map_err(backend)?;
    Ok(row.map(|(name, created_at)| Customer { name, created_at }))
}

/// Inserts a license on the caller's transaction. A collision inserts nothing rather
/// than fail (which would abort the transaction), so the key can be named.
pub(crate) async fn create_license(conn: &mut PgConnection, license: &License) -> StoreResult<()> {
    // One statement: the parents are checked by the same statement that inserts.
    let result = sqlx::query(
        "INSERT INTO licenses (id, customer, app, channel, key_hash, revoked, created_at)
         SELECT $1, $2, $3, $4, $5, $6, $7
         WHERE EXISTS (SELECT 1 FROM customers WHERE name = $2)
           AND EXISTS (SELECT 1 FROM channels WHERE app = $3 AND name = $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(&license.id)
    .bind(&license.customer)
    .bind(&license.app)
    .bind(&license.channel)
    .bind(&license.key_hash)
    .bind(license.revoked)
    .bind(license.created_at)
    .execute(&mut *conn)
    .await
    .map_err(backend)?
    .rows_affected();
    if result > 0 {
        return Ok(());
    }
    match missing_license_parent(conn, license).await? {
        Some(what) => Err(StoreError::Missing { what }),
        None => Err(StoreError::Conflict {
            what: license_conflict(conn, license).await?,
        }),
    }
}

/// Names the unique key (id or key hash) a license's insert collided on; licenses are
/// never deleted, so the colliding row is still there.
async fn license_conflict(conn: &mut PgConnection, license: &License) -> StoreResult<String> {
    if exists(conn, "SELECT 1 FROM licenses WHERE id = $1", &[&license.id]).await? {
        Ok(format!("license `{}`", license.id))
    } else {
        Ok(format!("a license with the same key as `{}`", license.id))
    }
}

/// Which of customer, app and channel a license's insert found missing.
async fn missing_license_parent(
    conn: &mut PgConnection,
    license: &License,
) -> StoreResult<Option<String>> {
    let customer_sql = "SELECT 1 FROM customers WHERE name = $1";
    if !exists(&mut *conn, customer_sql, &[&license.customer]).await? {
        return Ok(Some(format!("customer `{}`", license.customer)));
    }
    if !app_exists(&mut *conn, &license.app).await? {
        return Ok(Some(format!("app `{}`", license.app)));
    }
    if !channel_exists(&mut *conn, &license.app, &license.channel).await? {
        return Ok(Some(format!(
            "channel `{}/{}`",
            license.app, license.channel
        )));
    }
    Ok(None)
}

#[derive(sqlx::FromRow)]
struct LicenseRow {
    id: String,
    customer: String,
    app: String,
    channel: String,
    key_hash: String,
    revoked: bool,
    created_at: i64,
}

impl From<LicenseRow> for License {
    fn from(row: LicenseRow) -> Self {
        License {
            id: row.id,
            customer: row.customer,
            app: row.app,
            channel: row.channel,
            key_hash: row.key_hash,
            revoked: row.revoked,
            created_at: row.created_at,
        }
    }
}

pub(crate) async fn license_by_key_hash(
    pool: &PgPool,
    key_hash: &str,
) -> StoreResult<Option<License>> {
    let row: Option<LicenseRow> = sqlx::query_as(
        "SELECT id, customer, app, channel, key_hash, revoked, created_at
         FROM licenses WHERE key_hash = $1",
    )
    .bind(key_hash)
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    Ok(row.map(License::from))
}

pub(crate) async fn list_licenses(pool: &PgPool) -> StoreResult<Vec<License>> {
    // `ord` breaks ties between licenses created in the same second: later insert first.
    let rows: Vec<LicenseRow> = sqlx::query_as(
        "SELECT id, customer, app, channel, key_hash, revoked, created_at
         FROM licenses ORDER BY created_at DESC, ord DESC",
    )
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    Ok(rows.into_iter().map(License::from).collect())
}

/// Revokes the license and its installs on the caller's transaction: together or not
/// at all.
pub(crate) async fn revoke_license(
    conn: &mut PgConnection,
    id: &str,
    now: i64,
) -> StoreResult<bool> {
    let found = sqlx::query(
        "UPDATE licenses SET revoked = TRUE, revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(backend)?
    .rows_affected();
    if found == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE installs SET revoked = TRUE, revoked_at = COALESCE(revoked_at, $2)
         WHERE license_id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(true)
}

#[derive(sqlx::FromRow)]
struct TermsRow {
    #[sqlx(flatten)]
    license: LicenseRow,
    expires_at: Option<i64>,
    grace_s: i64,
    seats: Option<i64>,
    channels: String,
    entitlements: String,
}

pub(crate) async fn get_license(
    pool: &PgPool,
    id: &str,
) -> StoreResult<Option<(License, LicenseTerms)>> {
    let row: Option<TermsRow> = sqlx::query_as(
        "SELECT id, customer, app, channel, key_hash, revoked, created_at,
                expires_at, grace_s, seats, channels, entitlements
         FROM licenses WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    let Some(row) = row else { return Ok(None) };
    let terms = LicenseTerms::from_columns(
        id,
        row.expires_at,
        row.grace_s,
        row.seats,
        &row.channels,
        &row.entitlements,
    )?;
    Ok(Some((row.license.into(), terms)))
}

pub(crate) async fn set_license_terms(
    conn: &mut PgConnection,
    id: &str,
    terms: &LicenseTerms,
) -> StoreResult<bool> {
    let found = sqlx::query(
        "UPDATE licenses SET expires_at = $2, grace_s = $3, seats = $4, channels = $5,
                entitlements = $6
         WHERE id = $1",
    )
    .bind(id)
    .bind(terms.expires_at)
    .bind(terms.grace_s)
    .bind(terms.seats.map(i64::from))
    .bind(terms.channels_json())
    .bind(terms.entitlements_json())
    .execute(&mut *conn)
    .await
    .map_err(backend)?
    .rows_affected();
    Ok(found > 0)
}

pub(crate) async fn register_install(
    conn: &mut PgConnection,
    install: &Install,
) -> StoreResult<bool> {
    // The license's row is locked (until the caller's transaction ends) for the count
    // and the insert, so registrations of one license take turns: two cannot both
    // count the same last free seat.
    let seats: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT seats FROM licenses WHERE id = $1 FOR UPDATE")
            .bind(&install.license_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
    let Some((seats,)) = seats else {
        return Err(StoreError::Missing {
            what: format!("license `{}`", install.license_id),
        });
    };
    if let Some(seats) = seats {
        let (active,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM installs
             WHERE license_id = $1 AND NOT revoked AND uninstalled_at IS NULL",
        )
        .bind(&install.license_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
        if active >= seats {
            return Ok(false);
        }
    }
    crate::fleet::insert_install(conn, install).await?;
    Ok(true)
}
