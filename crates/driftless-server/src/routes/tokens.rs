//! API tokens (vendor API, owners only): make one for CI (`ci-publisher` of one app)
//! or for a user, list them, revoke one, rotate one. The secret is shown once; only its
//! SHA-256 is kept.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use driftless_store::{ApiToken, AuditedChange};
use driftless_wire::principals::{CreateToken, IssuedToken, RotateToken, TokenInfo};
use rand::RngCore as _;

use super::audit;
use super::input::parse_json;
use crate::auth::secret_hash;
use crate::error::ApiError;
use crate::now;
use crate::principal::Role;
use crate::state::AppState;

/// A token's lifetime when the request names none: 90 days.
pub(crate) const DEFAULT_LIFETIME_S: i64 = 90 * 86_400;
/// The longest lifetime a token may have: 400 days.
const MAX_LIFETIME_S: i64 = 400 * 86_400;

/// The lifetime asked for, checked.
pub(crate) fn lifetime(asked: Option<i64>) -> Result<i64, ApiError> {
    let s = asked.unwrap_or(DEFAULT_LIFETIME_S);
    if !(60..=MAX_LIFETIME_S).contains(&s) {
        return Err(ApiError::bad_request(format!(
            "a token lives between 60 seconds and {} days, not {s} seconds",
            MAX_LIFETIME_S / 86_400
        )));
    }
    Ok(s)
}

/// Makes a token for `user` (or a machine) with `role` and `app`: what the store keeps
/// (its hash), and the answer, which carries the secret the one time it is shown.
pub(crate) fn mint(
    user: Option<&str>,
    role: Role,
    app: Option<&str>,
    lifetime_s: i64,
) -> (ApiToken, IssuedToken) {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = format!("dltk_{}", hex::encode(secret));
    let at = now();
    let stored = ApiToken {
        id: hex::encode(id),
        user: user.map(Into::into),
        role: role.name().into(),
        app: app.map(Into::into),
        token_sha256: secret_hash(&token),
        created_at: at,
        expires_at: at.saturating_add(lifetime_s),
        revoked_at: None,
    };
    let issued = IssuedToken {
        info: info(stored.clone()),
        token,
    };
    (stored, issued)
}

fn info(t: ApiToken) -> TokenInfo {
    TokenInfo {
        id: t.id,
        user: t.user,
        role: t.role,
        app: t.app,
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
    }
}

/// `POST /v1/tokens`: a CI token for `app`, or another token for `user`.
pub async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let req: CreateToken = parse_json(&body, "token request")?;
    let lifetime_s = lifetime(req.expires_in_s)?;
    let (stored, issued) = match (&req.user, &req.app) {
        (Some(name), None) => {
            let user = state
                .store
                .get_user(name)
                .await?
                .filter(|u| u.revoked_at.is_none())
                .ok_or_else(|| unknown_user(name))?;
            let role = Role::parse(&user.role)
                .ok_or_else(|| ApiError::internal(format!("user `{name}` has no known role")))?;
            mint(Some(name), role, user.app.as_deref(), lifetime_s)
        }
        (None, Some(app)) => {
            super::users::require_app(&state, app).await?;
            mint(None, Role::CiPublisher, Some(app), lifetime_s)
        }
        _ => {
            return Err(ApiError::bad_request(
                "name either an app (a CI token that publishes to it) or a user, not both",
            ))
        }
    };
    let detail = serde_json::json!({"user": req.user, "role": issued.info.role, "app": issued.info.app, "expires_at": issued.info.expires_at});
    let subject = format!("token:{}", issued.info.id);
    let change = AuditedChange::CreateApiToken(stored);
    audit::apply(&state, change, "token.create", &subject, detail).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// `GET /v1/tokens`: every token, oldest first, without secrets.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    let tokens = state.store.list_api_tokens().await?;
    Ok(Json(tokens.into_iter().map(info).collect()))
}

/// `POST /v1/tokens/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let subject = format!("token:{id}");
    let change = AuditedChange::RevokeApiToken {
        id: id.clone(),
        now: now(),
    };
    let applied = audit::apply(
        &state,
        change,
        "token.revoke",
        &subject,
        serde_json::json!({}),
    );
    if !applied.await?.happened() {
        return Err(unknown_token(&id));
    }
    // This replica refuses it at once; the others when their cached lookup expires.
    state.principals.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/tokens/{id}/rotate`: a new token with the same user, role and scope;
/// the old one is revoked.
pub async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let req: RotateToken = if body.is_empty() {
        RotateToken::default()
    } else {
        parse_json(&body, "rotation")?
    };
    let old = state
        .store
        .list_api_tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id && t.revoked_at.is_none())
        .ok_or_else(|| unknown_token(&id))?;
    let role = Role::parse(&old.role)
        .ok_or_else(|| ApiError::internal(format!("token `{id}` has no known role")))?;
    let lifetime_s = lifetime(Some(
        req.expires_in_s.unwrap_or(old.expires_at - old.created_at),
    ))?;
    let (stored, issued) = mint(old.user.as_deref(), role, old.app.as_deref(), lifetime_s);
    let detail = serde_json::json!({"new": format!("token:{}", issued.info.id)});
    // The new token is stored and the old one revoked in one transaction, so CI
    // holds one that works whatever fails.
    let change = AuditedChange::RotateApiToken {
        old: id.clone(),
        new: stored,
        now: now(),
    };
    let subject = format!("token:{id}");
    let applied = audit::apply(&state, change, "token.rotate", &subject, detail);
    if !applied.await?.happened() {
        return Err(unknown_token(&id));
    }
    state.principals.clear();
    Ok((StatusCode::CREATED, Json(issued)))
}

fn unknown_token(id: &str) -> ApiError {
    ApiError::not_found("unknown_token", format!("no live token `{id}`"))
        .with_hint("list tokens with `driftless-vendor token list`")
}

pub(crate) fn unknown_user(name: &str) -> ApiError {
    ApiError::not_found("unknown_user", format!("no live user `{name}`"))
        .with_hint("list users with `driftless-vendor user list`")
}
