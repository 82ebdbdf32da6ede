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
use axum::Router;

use crate::access::{Access, RouteRule};

use crate::state::AppState;

pub(crate) use session::DashboardState;

/// The dashboard's stylesheet, compiled in.
const STYLESHEET: &str = include_str!("../../static/dashboard.css");

/// The dashboard's routes, under `/dashboard` (and `/`, which leads there), with their
/// rules: every page checks its own session.
pub(crate) fn router() -> (Router<AppState>, Vec<RouteRule>) {
    route_table! {
        "/" => [GET || async { Redirect::to(fleet::PATH) } => Access::Public],
        fleet::PATH => [GET fleet::page => Access::Own],
        login::PATH => [GET login::form_page => Access::Public, POST login::submit => Access::Public],
        login::LOGOUT_PATH => [POST login::logout => Access::Own],
        rollouts::PATH => [GET rollouts::page => Access::Own],
        "/dashboard/rollouts/{app}/{channel}/{action}" => [
            GET rollouts::confirm => Access::Own,
            POST rollouts::act => Access::Own,
        ],
        "/dashboard/installs/{id}" => [GET install::page => Access::Own],
        releases::PATH => [GET releases::page => Access::Own],
        audit::PATH => [GET audit::page => Access::Own],
        "/dashboard/static/dashboard.css" => [GET stylesheet => Access::Public],
    }
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
