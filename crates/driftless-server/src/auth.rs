//! Authentication: the operator's bearer token, and the install's request signature.

use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_wire::checkin::{
    request_signing_input, MAX_CLOCK_SKEW_S, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use driftless_wire::PublicKey;
use sha2::{Digest as _, Sha256};
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
            ApiError::unauthorized("missing operator token; pass --token or set DRIFTLESS_TOKEN")
        })?;
    if !is_operator_token(state, token.trim()) {
        return Err(ApiError::unauthorized(
            "operator token is not valid for this control plane",
        ));
    }
    Ok(())
}

/// Verifies an install's signature over method, path, timestamp and body.
pub fn verify_install_signature(
    public_key_hex: &str,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
    now: i64,
) -> Result<(), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let ts: i64 = header(TIMESTAMP_HEADER)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::unauthorized("missing or malformed request timestamp"))?;
    if (now - ts).abs() > MAX_CLOCK_SKEW_S {
        return Err(ApiError::unauthorized(format!(
            "request timestamp is {}s away from the server's clock; fix the host's clock",
            now - ts
        )));
    }
    let sig = header(SIGNATURE_HEADER)
        .and_then(|v| B64.decode(v).ok())
        .ok_or_else(|| ApiError::unauthorized("missing or malformed request signature"))?;
    let key = PublicKey {
        keytype: "ed25519".into(),
        public: public_key_hex.to_string(),
    };
    if !key.verify(&request_signing_input(method, path, ts, body), &sig) {
        return Err(ApiError::unauthorized(
            "request signature does not verify with this install's key",
        ));
    }
    Ok(())
}
