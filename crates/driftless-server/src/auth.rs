//! Authentication: the operator token (the first owner's; other vendor principals are
//! resolved in [`crate::access`]), and the install's signed requests, each accepted
//! once (a replay is refused).

use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_store::CheckinView;
use driftless_wire::checkin::{
    request_signing_input, MAX_CLOCK_SKEW_S, MIN_TIMESTAMP_MS, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use driftless_wire::session::{MAC_HEADER, SESSION_EXPIRED_CODE, SESSION_HEADER};
use driftless_wire::PublicKey;
use sha2::{Digest as _, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq as _;

use crate::cache::Refusal;
use crate::error::ApiError;
use crate::state::AppState;

/// Hex SHA-256 of a secret, as stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `token` is the operator token. The hashes are compared in constant time,
/// so the answer's timing says nothing about how much of a guess was right.
pub fn is_operator_token(state: &AppState, token: &str) -> bool {
    let expected = state.config.operator_token_sha256.as_bytes();
    secret_hash(token).as_bytes().ct_eq(expected).into()
}

/// What an install signed: the request's method, path and body.
pub struct SignedRequest<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path, as the install signed it.
    pub path: &'a str,
    /// The raw body.
    pub body: &'a [u8],
}

/// Authenticates a signed request of install `id`: the install exists, the signature
/// verifies with its key, it is not revoked, and the request is newer than every one
/// accepted from it before (a replay is refused, and nothing else is done for it).
/// Returns the install's check-in view.
pub async fn authenticate_install(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    request: SignedRequest<'_>,
) -> Result<CheckinView, ApiError> {
    let view = state
        .store
        .checkin_view(id)
        .await?
        .ok_or_else(|| unknown_install(id))?;
    let now = now_ms();
    let signed_at_ms = request_time(headers, now)?;
    verify_install_signature(&view.install.public_key, headers, &request, signed_at_ms)?;
    if view.install.uninstalled_at.is_some() {
        return Err(refused(id, Refusal::Uninstalled));
    }
    if view.install.revoked || view.license_revoked {
        return Err(refused(id, Refusal::Revoked));
    }
    // Last, so only an authentic request of a live install moves the install's clock.
    accept_request(state, id, signed_at_ms).await?;
    Ok(view)
}

/// Accepts install `id`'s request made at `signed_at_ms` if it is newer than every one
/// accepted before: first against what this process knows (heartbeats it accepted
/// and has not written yet included), then by the database's conditional write.
pub(crate) async fn accept_request(
    state: &AppState,
    id: &str,
    signed_at_ms: i64,
) -> Result<(), ApiError> {
    if signed_at_ms <= state.hot.heartbeats.newest_ms(id) {
        return Err(replayed(id));
    }
    if let Some(entry) = state.hot.cache.cached_install(id) {
        let mut live = entry.live();
        if signed_at_ms <= live.newest_request_ms {
            return Err(replayed(id));
        }
        live.newest_request_ms = signed_at_ms;
    }
    if !state.store.accept_signed_request(id, signed_at_ms).await? {
        return Err(replayed(id));
    }
    Ok(())
}

/// `404 unknown_install`.
pub(crate) fn unknown_install(id: &str) -> ApiError {
    ApiError::not_found("unknown_install", format!("unknown install `{id}`"))
        .with_hint("run `driftless install` again")
}

/// `403`: the install's requests are refused for `why`.
pub(crate) fn refused(id: &str, why: Refusal) -> ApiError {
    match why {
        Refusal::Uninstalled => ApiError::forbidden(
            "install_uninstalled",
            format!("install `{id}` was uninstalled; its key is no longer accepted"),
        )
        .with_hint("to use this host again, run `driftless install` with your license key"),
        Refusal::Revoked => ApiError::forbidden(
            "install_revoked",
            "this install or its license has been revoked",
        )
        .with_hint("contact your vendor"),
    }
}

/// `401 replayed_request`: the request is not newer than one already accepted.
pub(crate) fn replayed(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "replayed_request",
        format!(
            "request refused as a replay: it is not newer than the last request accepted from install `{id}`"
        ),
    )
    .with_hint(
        "a signed request is accepted once; if this host sent it, check that only one copy of this install runs and that its clock did not step back",
    )
}

/// The request's millisecond timestamp, checked to be near `now_ms`.
pub(crate) fn request_time(headers: &HeaderMap, now_ms: i64) -> Result<i64, ApiError> {
    let ts: i64 = header(headers, TIMESTAMP_HEADER)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::unauthorized("missing or malformed request timestamp"))?;
    if ts < MIN_TIMESTAMP_MS {
        return Err(ApiError::unauthorized(
            "the request is signed with a timestamp in seconds, which lets it be replayed",
        )
        .with_hint(
            "update driftless on this host: this control plane needs millisecond timestamps",
        ));
    }
    let skew_ms = now_ms.saturating_sub(ts);
    if skew_ms.unsigned_abs() > MAX_CLOCK_SKEW_S.unsigned_abs() * 1000 {
        return Err(ApiError::unauthorized(format!(
            "request timestamp is {}s away from the server's clock",
            skew_ms / 1000
        ))
        .with_hint("fix the host's clock"));
    }
    Ok(ts)
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Verifies an install's Ed25519 signature over method, path, timestamp and body.
pub(crate) fn verify_install_signature(
    public_key_hex: &str,
    headers: &HeaderMap,
    request: &SignedRequest<'_>,
    signed_at_ms: i64,
) -> Result<(), ApiError> {
    let sig = header(headers, SIGNATURE_HEADER)
        .and_then(|v| B64.decode(v).ok())
        .ok_or_else(|| ApiError::unauthorized("missing or malformed request signature"))?;
    let key = PublicKey {
        keytype: "ed25519".into(),
        public: public_key_hex.to_string(),
    };
    let signed = request_signing_input(request.method, request.path, signed_at_ms, request.body);
    if !key.verify(&signed, &sig) {
        return Err(ApiError::unauthorized(
            "request signature does not verify with this install's key",
        ));
    }
    Ok(())
}

/// How a check-in is authenticated: a session MAC when it names a session, else the
/// install's signature.
pub(crate) enum Credential<'h> {
    /// `x-driftless-session` and `x-driftless-mac`.
    Session {
        /// The session's id.
        id: &'h str,
        /// The MAC, decoded.
        mac: [u8; 32],
    },
    /// The Ed25519 signature header.
    Signature,
}

/// The check-in's credential, from its headers.
pub(crate) fn credential(headers: &HeaderMap) -> Result<Credential<'_>, ApiError> {
    let Some(id) = header(headers, SESSION_HEADER) else {
        return Ok(Credential::Signature);
    };
    let mut mac = [0u8; 32];
    let decoded = header(headers, MAC_HEADER)
        .and_then(|v| B64.decode_slice(v, &mut mac).ok())
        .filter(|n| *n == mac.len());
    if decoded.is_none() {
        return Err(ApiError::unauthorized(
            "missing or malformed request MAC for the check-in session",
        ));
    }
    Ok(Credential::Session { id, mac })
}

/// `401 session_expired`: open a new session.
pub(crate) fn session_expired(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        SESSION_EXPIRED_CODE,
        why.to_string(),
    )
    .with_hint("open a new check-in session (`driftless sync` does it by itself)")
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
