//! Users (vendor API, owners only): make one (with an API token, shown once, and
//! optionally a dashboard password), list them, revoke one with all their tokens.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use driftless_store::{AuditedChange, User};
use driftless_wire::principals::{CreateUser, IssuedToken, UserInfo};

use super::audit;
use super::input::parse_json;
use super::tokens::{lifetime, mint, unknown_user};
use crate::error::ApiError;
use crate::now;
use crate::principal::{Role, FIRST_OWNER};
use crate::state::AppState;

/// `Missing` unless app `app` exists.
pub(crate) async fn require_app(state: &AppState, app: &str) -> Result<(), ApiError> {
    match state.store.get_app(app).await? {
        Some(_) => Ok(()),
        None => Err(
            ApiError::not_found("unknown_app", format!("no app `{app}`"))
                .with_hint("list apps with `driftless-vendor app list`"),
        ),
    }
}

fn check_user_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !ok {
        return Err(ApiError::bad_request(format!(
            "invalid user name `{name}`: use 1 to 64 of a-z, 0-9, '.', '_' and '-'"
        )));
    }
    if name == FIRST_OWNER {
        return Err(ApiError::conflict(
            "conflict",
            format!("user `{FIRST_OWNER}` is the first owner, whose token is the operator token"),
        ));
    }
    Ok(())
}

/// The role and scope asked for, checked: an owner acts on every app, a CI publisher
/// on exactly one.
async fn check_role(state: &AppState, req: &CreateUser) -> Result<Role, ApiError> {
    let role = Role::parse(&req.role).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown role `{}`: use owner, release-manager, support or ci-publisher",
            req.role
        ))
    })?;
    match (role, &req.app) {
        (Role::Owner, Some(_)) => Err(ApiError::bad_request(
            "an owner acts on every app; give no app scope",
        )),
        (Role::CiPublisher, None) => Err(ApiError::bad_request(
            "a ci-publisher publishes to one app; give its app",
        )),
        (_, Some(app)) => require_app(state, app).await.map(|()| role),
        (_, None) => Ok(role),
    }
}

/// `POST /v1/users`: the user, and their first API token.
pub async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let req: CreateUser = parse_json(&body, "user")?;
    check_user_name(&req.name)?;
    let role = check_role(&state, &req).await?;
    let lifetime_s = lifetime(req.token_expires_in_s)?;
    let password_hash = match &req.password {
        Some(p) if p.chars().count() < crate::password::MIN_LEN => {
            return Err(ApiError::bad_request(format!(
                "a dashboard password has at least {} characters",
                crate::password::MIN_LEN
            )))
        }
        Some(p) => Some(crate::password::hash(p).map_err(ApiError::internal)?),
        None => None,
    };
    let user = User {
        name: req.name.clone(),
        role: role.name().into(),
        app: req.app.clone(),
        password_hash,
        created_at: now(),
        revoked_at: None,
    };
    let (token, issued) = mint(Some(&user.name), role, user.app.as_deref(), lifetime_s);
    let detail = serde_json::json!({"role": user.role, "app": user.app, "token": format!("token:{}", issued.info.id)});
    let subject = format!("user:{}", user.name);
    let change = AuditedChange::CreateUser { user, token };
    audit::apply(&state, change, "user.create", &subject, detail).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// `GET /v1/users`: every user, by name.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<UserInfo>>, ApiError> {
    let users = state.store.list_users().await?;
    Ok(Json(
        users
            .into_iter()
            .map(|u| UserInfo {
                dashboard_login: u.password_hash.is_some(),
                name: u.name,
                role: u.role,
                app: u.app,
                created_at: u.created_at,
                revoked_at: u.revoked_at,
            })
            .collect(),
    ))
}

/// `POST /v1/users/{name}/revoke`: the user and every token of theirs.
pub async fn revoke(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let subject = format!("user:{name}");
    let change = AuditedChange::RevokeUser {
        name: name.clone(),
        now: now(),
    };
    let applied = audit::apply(
        &state,
        change,
        "user.revoke",
        &subject,
        serde_json::json!({}),
    );
    if !applied.await?.happened() {
        return Err(unknown_user(&name));
    }
    state.principals.clear();
    state.dashboard.close_user(&name);
    Ok(StatusCode::NO_CONTENT)
}
