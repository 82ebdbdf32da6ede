//! Authentication: the operator's bearer token, and the install's signed requests,
//! each accepted once (a replay is refused).

use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_store::CheckinView;
use driftless_wire::checkin::{
    request_signing_input, MAX_CLOCK_SKEW_S, MIN_TIMESTAMP_MS, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use driftless_wire::PublicKey;
use sha2::{Digest as _, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq as _;

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

/// Requires `Authorization: Bearer <operator token>`.
pub fn require_operator(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::unauthorized("missing operator token")
                .with_hint("pass --token or set DRIFTLESS_TOKEN")
        })?;
    if !is_operator_token(state, token.trim()) {
        return Err(ApiError::unauthorized(
            "operator token is not valid for this control plane",
        ));
    }
    Ok(())
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
    let view = state.store.checkin_view(id).await?.ok_or_else(|| {
        ApiError::not_found("unknown_install", format!("unknown install `{id}`"))
            .with_hint("run `driftless install` again")
    })?;
    let signed_at_ms =
        verify_install_signature(&view.install.public_key, headers, &request, now_ms())?;
    if view.install.uninstalled_at.is_some() {
        return Err(ApiError::forbidden(
            "install_uninstalled",
            format!("install `{id}` was uninstalled; its key is no longer accepted"),
        )
        .with_hint("to use this host again, run `driftless install` with your license key"));
    }
    if view.install.revoked || view.license_revoked {
        return Err(ApiError::forbidden(
            "install_revoked",
            "this install or its license has been revoked",
        )
        .with_hint("contact your vendor"));
    }
    // Last, so only an authentic request of a live install moves the install's clock.
    if !state.store.accept_signed_request(id, signed_at_ms).await? {
        return Err(replayed(id));
    }
    Ok(view)
}

/// `401 replayed_request`: the request is not newer than one already accepted.
fn replayed(id: &str) -> ApiError {
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

/// Verifies an install's signature over method, path, timestamp and body, and that
/// the timestamp is a millisecond one near `now_ms`; returns the timestamp.
fn verify_install_signature(
    public_key_hex: &str,
    headers: &HeaderMap,
    request: &SignedRequest<'_>,
    now_ms: i64,
) -> Result<i64, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let ts: i64 = header(TIMESTAMP_HEADER)
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
    let sig = header(SIGNATURE_HEADER)
        .and_then(|v| B64.decode(v).ok())
        .ok_or_else(|| ApiError::unauthorized("missing or malformed request signature"))?;
    let key = PublicKey {
        keytype: "ed25519".into(),
        public: public_key_hex.to_string(),
    };
    let signed = request_signing_input(request.method, request.path, ts, request.body);
    if !key.verify(&signed, &sig) {
        return Err(ApiError::unauthorized(
            "request signature does not verify with this install's key",
        ));
    }
    Ok(ts)
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
