//! `driftless registry-login`: an install asks, with a signed request that is accepted
//! once, for a credential `docker login` can use at the token endpoint for a few
//! minutes; the token endpoint then grants pull on the install's assigned release only.
//!
//! The credential is signed by the director key over a message of its own (it cannot
//! be mistaken for a DSSE document), so every replica verifies it without a database
//! read. A credential is a bearer secret while it lives, like the registry tokens it
//! buys: `docker login` and each `docker pull` present it again.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use driftless_store::AuditEvent;
use driftless_wire::checkin::{RegistryLoginResponse, REGISTRY_LOGIN_LIFETIME_S};
use ed25519_dalek::{Signature, Signer as _};

use crate::auth::{authenticate_install, SignedRequest};
use crate::error::ApiError;
use crate::state::AppState;

/// What every credential starts with, so a future format can be told apart.
const CREDENTIAL_PREFIX: &str = "dlrl1";

/// The bytes the director signs for install `install_id`'s credential.
fn credential_input(install_id: &str, expires: i64) -> Vec<u8> {
    format!("driftless-registry-login-credential-v1\n{install_id}\n{expires}").into_bytes()
}

/// `POST /v1/installs/{id}/registry-login`: a credential for `docker login`, to a
/// signed request of the install.
pub async fn issue(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<RegistryLoginResponse>, ApiError> {
    let path = format!("/v1/installs/{id}/registry-login");
    let signed = SignedRequest {
        method: "POST",
        path: &path,
        body: &body,
    };
    authenticate_install(&state, &id, &headers, signed).await?;
    let lifetime = i64::try_from(REGISTRY_LOGIN_LIFETIME_S).map_err(ApiError::internal)?;
    let expires = crate::now() + lifetime;
    let signature = state.keys().director.sign(&credential_input(&id, expires));
    let password = format!(
        "{CREDENTIAL_PREFIX}.{expires}.{}",
        B64URL.encode(signature.to_bytes())
    );
    let event = AuditEvent {
        at: crate::now(),
        actor: format!("install:{id}"),
        action: "install.registry_login".into(),
        subject: id.clone(),
        detail: serde_json::json!({ "expires": expires }).to_string(),
        request_id: crate::request_context::current_request_id(),
    };
    state.store.append_audit(&event).await?;
    Ok(Json(RegistryLoginResponse {
        username: id,
        password,
        expires_in: REGISTRY_LOGIN_LIFETIME_S,
    }))
}

/// Whether `password` is a credential this control plane issued to `install_id` that
/// has not expired at `now`.
pub fn credential_is_valid(state: &AppState, install_id: &str, password: &str, now: i64) -> bool {
    let mut parts = password.splitn(3, '.');
    let (Some(CREDENTIAL_PREFIX), Some(expires), Some(sig)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return false;
    };
    let lifetime = i64::try_from(REGISTRY_LOGIN_LIFETIME_S).unwrap_or(i64::MAX);
    // A credential that claims to live longer than any this control plane issues
    // was not issued by it, even if the director key signed it.
    if expires < now || expires > now.saturating_add(lifetime) {
        return false;
    }
    let Some(sig) = B64URL
        .decode(sig)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
    else {
        return false;
    };
    state
        .keys()
        .director
        .verifying_key()
        .verify_strict(&credential_input(install_id, expires), &sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_message_names_the_install_and_the_expiry() {
        assert_eq!(
            credential_input("ins_1", 42),
            b"driftless-registry-login-credential-v1\nins_1\n42".to_vec()
        );
    }
}
