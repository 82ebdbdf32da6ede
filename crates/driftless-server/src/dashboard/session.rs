//! Dashboard sessions: a random id in an `HttpOnly`, `SameSite=Strict` cookie, kept in
//! this process's memory (by its hash) with its CSRF token and expiry; failed logins
//! throttled; and the extractor every page uses to require a live session.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::waves::WaveCache;
use crate::principal::Principal;
use crate::state::AppState;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "driftless_dashboard";
/// How long a session lasts after login, in seconds.
pub(crate) const LIFETIME_S: i64 = 8 * 3600;
/// Failed logins allowed in [`FAILURE_WINDOW`]; past it every login waits.
const MAX_FAILURES: usize = 5;
/// The window failed logins are counted over.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

struct LiveSession {
    csrf: String,
    expires_at: i64,
    principal: Principal,
}

/// The dashboard's memory: sessions, the login throttle and the rollout waves' counts.
#[derive(Default)]
pub(crate) struct DashboardState {
    /// By the hex SHA-256 of the session id, so the ids themselves are kept nowhere.
    sessions: Mutex<HashMap<String, LiveSession>>,
    failures: Mutex<VecDeque<Instant>>,
    /// Per-wave counts of active rollouts, recounted at most every few seconds.
    pub(crate) waves: std::sync::Arc<WaveCache>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves a map that is still whole.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// 128 random bits, URL-safe.
pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

fn key(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

impl DashboardState {
    /// Opens a session of `principal` at `now`; its id (for the cookie) and CSRF token.
    pub(crate) fn open(&self, now: i64, principal: Principal) -> (String, String) {
        let (id, csrf) = (random_token(), random_token());
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, s| s.expires_at > now);
        let live = LiveSession {
            csrf: csrf.clone(),
            expires_at: now + LIFETIME_S,
            principal,
        };
        sessions.insert(key(&id), live);
        (id, csrf)
    }

    /// The CSRF token and principal of live session `id`; `None` if unknown or expired.
    fn live(&self, id: &str, now: i64) -> Option<(String, Principal)> {
        let mut sessions = lock(&self.sessions);
        let k = key(id);
        match sessions.get(&k) {
            Some(s) if s.expires_at > now => Some((s.csrf.clone(), s.principal.clone())),
            Some(_) => {
                sessions.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Ends session `id`.
    pub(crate) fn close(&self, id: &str) {
        lock(&self.sessions).remove(&key(id));
    }

    /// Ends every session of user `name` on this replica (they were revoked).
    pub(crate) fn close_user(&self, name: &str) {
        let actor = format!("user:{name}");
        lock(&self.sessions).retain(|_, s| s.principal.actor != actor);
    }

    /// Seconds a login must wait because of recent failures; `None` when it may try.
    pub(crate) fn login_wait(&self, now: Instant) -> Option<u64> {
        let mut failures = lock(&self.failures);
        while failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= FAILURE_WINDOW)
        {
            failures.pop_front();
        }
        let oldest = *failures.front()?;
        (failures.len() >= MAX_FAILURES).then(|| {
            (FAILURE_WINDOW - now.duration_since(oldest))
                .as_secs()
                .max(1)
        })
    }

    /// Counts a failed login.
    pub(crate) fn login_failed(&self, now: Instant) {
        lock(&self.failures).push_back(now);
    }
}

/// The value of cookie `name` in `headers`.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, for the dashboard's paths.
pub(crate) fn set_cookie(name: &str, value: &str, max_age_s: i64) -> String {
    format!("{name}={value}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={max_age_s}")
}

/// Whether `given` is `expected`, compared in constant time.
pub(crate) fn same_token(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// A signed-in operator; a request without a live session is sent to the login page.
pub(crate) struct Operator {
    /// The session id, from its cookie.
    pub(crate) session: String,
    /// The session's CSRF token.
    pub(crate) csrf: String,
    /// Who logged in.
    pub(crate) principal: Principal,
}

impl Operator {
    /// Checks a form's CSRF token: a missing or wrong one is `403` and nothing is done.
    pub(crate) fn check_csrf(
        &self,
        form: &[(String, String)],
    ) -> Result<(), super::page::PageError> {
        let given = form
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str());
        match given {
            Some(t) if same_token(t, &self.csrf) => Ok(()),
            _ => Err(super::page::PageError(crate::error::ApiError::forbidden(
                "csrf",
                "this form is out of date or was not sent by the dashboard; nothing was changed",
            ).with_hint("reload the page and submit the form again"))),
        }
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to(super::login::PATH).into_response();
        let id = cookie(&parts.headers, COOKIE).ok_or_else(to_login)?;
        let (csrf, principal) = state
            .dashboard
            .live(id, crate::now())
            .ok_or_else(to_login)?;
        Ok(Operator {
            session: id.to_string(),
            csrf,
            principal,
        })
    }
}

/// Parses an `application/x-www-form-urlencoded` body.
pub(crate) fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}
