//! Users and API tokens. Revoking a user revokes their tokens in the same transaction,
//! so no token outlives the person it acts for.

use driftless_store::{ApiToken, StoreError, StoreResult, User};
use sqlx::{PgConnection, PgPool};

use crate::error::{backend, conflict_or_backend};

type UserRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
);
type TokenRow = (
    String,
    Option<String>,
    String,
    Option<String>,
    String,
    i64,
    i64,
    Option<i64>,
);

const USER_COLUMNS: &str = "name, role, app, password_hash, created_at, revoked_at";
const TOKEN_COLUMNS: &str =
    "id, user_name, role, app, token_sha256, created_at, expires_at, revoked_at";

fn user((name, role, app, password_hash, created_at, revoked_at): UserRow) -> User {
    User {
        name,
        role,
        app,
        password_hash,
        created_at,
        revoked_at,
    }
}

fn token(
    (id, user, role, app, token_sha256, created_at, expires_at, revoked_at): TokenRow,
) -> ApiToken {
    ApiToken {
        id,
        user,
        role,
        app,
        token_sha256,
        created_at,
        expires_at,
        revoked_at,
    }
}

pub(crate) async fn create_user(conn: &mut PgConnection, u: &User) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(&u.name)
    .bind(&u.role)
    .bind(&u.app)
    .bind(&u.password_hash)
    .bind(u.created_at)
    .bind(u.revoked_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| conflict_or_backend(e, || format!("user `{}`", u.name)))?;
    Ok(())
}

pub(crate) async fn list_users(pool: &PgPool) -> StoreResult<Vec<User>> {
    let rows: Vec<UserRow> =
        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
            .fetch_all(pool)
            .await
            .map_err(backend)?;
    Ok(rows.into_iter().map(user).collect())
}

pub(crate) async fn get_user(pool: &PgPool, name: &str) -> StoreResult<Option<User>> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"))
            .bind(name)
            .fetch_optional(pool)
            .await
            .map_err(backend)?;
    Ok(row.map(user))
}

/// Revokes the user and their tokens on the caller's transaction.
pub(crate) async fn revoke_user(
    conn: &mut PgConnection,
    name: &str,
    now: i64,
) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE users SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL")
            .bind(name)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE user_name = $1 AND revoked_at IS NULL",
    )
    .bind(name)
    .bind(now)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(true)
}

pub(crate) async fn create_api_token(conn: &mut PgConnection, t: &ApiToken) -> StoreResult<()> {
    // The user check and the insert are one statement, so a token cannot be made for
    // a user revoked a moment before.
    let done = sqlx::query(&format!(
        "INSERT INTO api_tokens ({TOKEN_COLUMNS})
         SELECT $1, $2, $3, $4, $5, $6, $7, $8
         WHERE $2 IS NULL OR EXISTS (SELECT 1 FROM users WHERE name = $2 AND revoked_at IS NULL)"
    ))
    .bind(&t.id)
    .bind(&t.user)
    .bind(&t.role)
    .bind(&t.app)
    .bind(&t.token_sha256)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.revoked_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| conflict_or_backend(e, || format!("token `{}`", t.id)))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Missing {
            what: format!("user `{}`", t.user.as_deref().unwrap_or_default()),
        });
    }
    Ok(())
}

pub(crate) async fn list_api_tokens(pool: &PgPool) -> StoreResult<Vec<ApiToken>> {
    let rows: Vec<TokenRow> = sqlx::query_as(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id"
    ))
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    Ok(rows.into_iter().map(token).collect())
}

pub(crate) async fn api_token_by_hash(
    pool: &PgPool,
    token_sha256: &str,
) -> StoreResult<Option<ApiToken>> {
    let row: Option<TokenRow> = sqlx::query_as(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_sha256 = $1"
    ))
    .bind(token_sha256)
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    Ok(row.map(token))
}

pub(crate) async fn revoke_api_token(
    conn: &mut PgConnection,
    id: &str,
    now: i64,
) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}
