//! The vendor dashboard: server-rendered HTML pages of the fleet, its rollouts, one
//! install, the releases and the audit log, behind a login with the operator token.
//!
//! Templates are compiled into the binary (askama, escaped by default); the one
//! stylesheet is served from memory and the pages need no script. Every form that
//! changes something carries the session's CSRF token, checked before anything is done.

mod audit;
mod chart;
mod fleet;
mod install;
mod login;
mod page;
mod releases;
mod rollouts;
mod session;
mod time_format;
mod waves;

use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub(crate) use session::DashboardState;

/// The dashboard's stylesheet, compiled in.
const STYLESHEET: &str = include_str!("../../static/dashboard.css");

/// The dashboard's routes, under `/dashboard` (and `/`, which leads there).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to(fleet::PATH) }))
        .route(fleet::PATH, get(fleet::page))
        .route(login::PATH, get(login::form_page).post(login::submit))
        .route(login::LOGOUT_PATH, post(login::logout))
        .route(rollouts::PATH, get(rollouts::page))
        .route(
            "/dashboard/rollouts/{app}/{channel}/{action}",
            get(rollouts::confirm).post(rollouts::act),
        )
        .route("/dashboard/installs/{id}", get(install::page))
        .route(releases::PATH, get(releases::page))
        .route(audit::PATH, get(audit::page))
        .route("/dashboard/static/dashboard.css", get(stylesheet))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLESHEET,
    )
}
