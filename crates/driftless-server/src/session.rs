//! `POST /v1/installs/{id}/session`: opens a check-in session (see
//! [`driftless_wire::session`]), authenticated like every install request, and the
//! session check of a check-in that names one.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use driftless_store::StoredSession;
use driftless_wire::session::{server_accept, SessionRequest, SessionResponse};

use crate::auth::{authenticate_install, session_expired, SignedRequest};
use crate::cache::{CachedSession, InstallEntry};
use crate::error::ApiError;
use crate::routes::input::parse_json;
use crate::state::AppState;

/// Opens a session for install `id`, replacing the one it had.
pub async fn open(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SessionResponse>, ApiError> {
    let path = format!("/v1/installs/{id}/session");
    let signed = SignedRequest {
        method: "POST",
        path: &path,
        body: &body,
    };
    authenticate_install(&state, &id, &headers, signed).await?;
    let req: SessionRequest = parse_json(&body, "session request")?;
    let session_id = new_session_id();
    let (server_public, key) = server_accept(&id, &session_id, &req).map_err(|e| {
        ApiError::bad_request(e.to_string()).with_hint("update driftless on this host")
    })?;
    let expires_at = crate::now().saturating_add(state.config.session_lifetime_s);
    let session = StoredSession {
        install_id: id.clone(),
        session_id: session_id.clone(),
        key: key.to_bytes(),
        expires_at,
    };
    state.store.put_session(&session).await?;
    tracing::debug!(install = %id, session = %session_id, "check-in session opened");
    Ok(Json(SessionResponse {
        session_id,
        server_public,
        expires_at,
    }))
}

/// Install `entry`'s live session named `session_id`, read from the database when this
/// process does not know it (a session opened through another replica); `401
/// session_expired` when it has none by that name or it expired.
pub(crate) async fn live_session(
    state: &AppState,
    entry: &InstallEntry,
    session_id: &str,
) -> Result<CachedSession, ApiError> {
    let known = match &entry.live().session {
        Some(s) if &*s.id == session_id => Some(s.clone()),
        _ => None,
    };
    let session = match known {
        Some(s) => s,
        None => {
            let stored = state.store.get_session(&entry.id).await?;
            entry.live().session = stored.as_ref().map(CachedSession::from);
            match stored {
                Some(s) if s.session_id == session_id => CachedSession::from(&s),
                _ => {
                    return Err(session_expired(
                        "this check-in session is not known to the control plane",
                    ))
                }
            }
        }
    };
    if session.expires_at <= crate::now() {
        return Err(session_expired("this check-in session expired"));
    }
    Ok(session)
}

/// A fresh session id: 128 random bits, short (it is stored on every install's row).
fn new_session_id() -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    format!("s_{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()))
}
