//! The install API: registration with a license key, and the signed check-in.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use driftless_store::{AuditedChange, Install};
use driftless_wire::checkin::{RegisterRequest, RegisterResponse};
use driftless_wire::PublicKey;

use super::input::parse_json;
use crate::auth::secret_hash;
use crate::error::ApiError;
use crate::license_terms;
use crate::now;
use crate::state::AppState;

/// `POST /v1/installs`: registers a host's public key under a license.
pub async fn register(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    let req: RegisterRequest = parse_json(&body, "registration")?;
    let key = PublicKey {
        keytype: "ed25519".into(),
        public: req.public_key.clone(),
    };
    key.verifying_key()
        .map_err(|e| ApiError::bad_request(format!("install public key: {e}")))?;
    let license = state
        .store
        .license_by_key_hash(&secret_hash(req.license_key.trim()))
        .await?
        .ok_or_else(|| {
            ApiError::forbidden("invalid_license", "license key is not valid")
                .with_hint("check it with your vendor")
        })?;
    if license.revoked {
        return Err(
            ApiError::forbidden("license_revoked", "license has been revoked")
                .with_hint("contact your vendor"),
        );
    }
    let terms = state
        .store
        .get_license(&license.id)
        .await?
        .map(|(_, terms)| terms)
        .unwrap_or_default();
    let at = now();
    license_terms::require_not_expired(&license.id, &terms, at)?;
    if !terms.allows_channel(&license.channel) {
        return Err(license_terms::channel_not_allowed(
            &license.id,
            &license.channel,
            &terms.channels,
        ));
    }
    let install = Install {
        id: format!("ins_{}", uuid::Uuid::new_v4().simple()),
        license_id: license.id.clone(),
        customer: license.customer.clone(),
        app: license.app.clone(),
        channel: license.channel.clone(),
        public_key: req.public_key,
        hostname: req.hostname.chars().take(253).collect(),
        platform: req.platform.chars().take(64).collect(),
        revoked: false,
        created_at: at,
        uninstalled_at: None,
    };
    // The seat count, the insert and the install's own entry are one transaction.
    let detail = serde_json::json!({ "license": license.id, "hostname": install.hostname });
    let actor = format!("install:{}", install.id);
    let subject = install.id.clone();
    let change = AuditedChange::RegisterInstall(install.clone());
    let applied =
        super::audit::apply_by(&state, actor, change, "install.register", &subject, detail);
    if !applied.await?.happened() {
        return Err(license_terms::no_seat(
            &license.id,
            terms.seats.unwrap_or_default(),
        ));
    }
    tracing::info!(install = %install.id, app = %install.app, "install registered");
    Ok((
        StatusCode::CREATED,
        Json(RegisterResponse {
            install_id: install.id,
            app: install.app,
            channel: install.channel,
        }),
    ))
}

/// `POST /v1/installs/{id}/checkin`.
pub async fn checkin(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    crate::checkin::handle(&state, &id, &headers, &body).await
}
