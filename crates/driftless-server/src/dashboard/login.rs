//! Logging in (a user's name and password, or the operator token), and out. The login form carries its own CSRF
//! token (a short-lived cookie it must match), failed attempts are throttled, and a
//! success opens a session (see [`super::session`]).

use std::time::Instant;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::page::{render, PageError};
use super::session::{self, cookie, form, random_token, same_token, set_cookie, Operator};
use crate::auth::is_operator_token;
use crate::error::ApiError;
use crate::principal::{Principal, Role};
use crate::state::AppState;

/// The login page.
pub(crate) const PATH: &str = "/dashboard/login";
/// Where the logout form posts.
pub(crate) const LOGOUT_PATH: &str = "/dashboard/logout";
/// The login form's CSRF cookie.
const LOGIN_COOKIE: &str = "driftless_login";
/// How long a login form stays good, in seconds.
const LOGIN_FORM_S: i64 = 600;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    error: Option<&'a str>,
}

fn login_page(error: Option<&str>, status: StatusCode) -> Result<Response, PageError> {
    let csrf = random_token();
    let mut response = render(&LoginPage { csrf: &csrf, error })?;
    *response.status_mut() = status;
    let value = set_cookie(LOGIN_COOKIE, &csrf, LOGIN_FORM_S);
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// `GET /dashboard/login`.
pub(crate) async fn form_page() -> Result<Response, PageError> {
    login_page(None, StatusCode::OK)
}

/// `POST /dashboard/login`: `user` and `password` (or `token`), and `csrf`.
pub(crate) async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = form(&body);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let expected = cookie(&headers, LOGIN_COOKIE);
    let csrf_ok = matches!((field("csrf"), expected), (Some(g), Some(e)) if same_token(g, e));
    if !csrf_ok {
        return Err(PageError(
            ApiError::forbidden(
                "csrf",
                "this login form is out of date or was not sent by the dashboard",
            )
            .with_hint("open the login page again"),
        ));
    }
    let now = Instant::now();
    if let Some(wait) = state.dashboard.login_wait(now) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "login_throttled",
            format!("too many failed logins; try again in {wait} s"),
        );
        e.retry_after = u32::try_from(wait).ok();
        return Err(PageError(e));
    }
    let user = field("user").unwrap_or_default().trim();
    let Some(principal) = check_credentials(&state, user, field).await? else {
        state.dashboard.login_failed(now);
        tracing::warn!(user, "dashboard login refused: wrong credentials");
        return login_page(
            Some("that name and password, or that operator token, is not valid here"),
            StatusCode::UNAUTHORIZED,
        );
    };
    tracing::info!(actor = %principal.actor, "dashboard login");
    let (id, _csrf) = state.dashboard.open(crate::now(), principal);
    let mut response = Redirect::to(super::fleet::PATH).into_response();
    for value in [
        set_cookie(session::COOKIE, &id, session::LIFETIME_S),
        set_cookie(LOGIN_COOKIE, "", 0),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(response)
}

/// The principal of a user's name and password, or of the operator token; `None` when
/// they are wrong (a revoked user, or one without a password, cannot log in).
async fn check_credentials<'f>(
    state: &AppState,
    user: &str,
    field: impl Fn(&str) -> Option<&'f str>,
) -> Result<Option<Principal>, PageError> {
    if user.is_empty() {
        let token = field("token").unwrap_or_default().trim();
        let ok = !token.is_empty() && is_operator_token(state, token);
        return Ok(ok.then(Principal::first_owner));
    }
    let password = field("password").unwrap_or_default();
    let Some(found) = state.store.get_user(user).await.map_err(ApiError::from)? else {
        return Ok(None);
    };
    let live = found.revoked_at.is_none();
    let hash = found.password_hash.as_deref().unwrap_or_default();
    if !live || !crate::password::verify(password, hash) {
        return Ok(None);
    }
    let Some(role) = Role::parse(&found.role) else {
        return Ok(None);
    };
    Ok(Some(Principal {
        actor: format!("user:{}", found.name),
        role,
        app: found.app,
    }))
}

/// `POST /dashboard/logout` (with the session's CSRF token).
pub(crate) async fn logout(
    State(state): State<AppState>,
    operator: Operator,
    body: Bytes,
) -> Result<Response, PageError> {
    operator.check_csrf(&form(&body))?;
    state.dashboard.close(&operator.session);
    let mut response = Redirect::to(PATH).into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(session::COOKIE, "", 0)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}
