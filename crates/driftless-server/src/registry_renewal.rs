//! `POST /v1/installs/{id}/registry-token`: a fresh registry token, to a signed request
//! of the install, for the release it is assigned now. A host whose pull outlives the
//! token its check-in gave (a slow link, large images) renews it here and carries on,
//! rather than failing the pull and converging only after several syncs.
//!
//! The token is scoped exactly like a check-in's: pull on the assigned release's
//! repositories and nothing else. A revoked install or license gets nothing
//! ([`authenticate_install`] refuses it), and neither does an install with no release
//! assigned.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use driftless_store::{AuditEvent, CheckinView};
use driftless_wire::checkin::{RegistryAccess, RegistryTokenResponse};
use driftless_wire::release::ReleaseDocument;
use driftless_wire::{Envelope, RELEASE_PAYLOAD_TYPE};

use crate::auth::{authenticate_install, SignedRequest};
use crate::error::ApiError;
use crate::state::AppState;

/// Handles `POST /v1/installs/{id}/registry-token`.
pub async fn renew(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<RegistryTokenResponse>, ApiError> {
    let path = format!("/v1/installs/{id}/registry-token");
    let signed = SignedRequest {
        method: "POST",
        path: &path,
        body: &body,
    };
    let view = authenticate_install(&state, &id, &headers, signed).await?;
    let release = assigned_release(&state, &view).await?.ok_or_else(|| {
        ApiError::conflict(
            "no_assignment",
            format!("install `{id}` has no release assigned, so there is nothing to pull"),
        )
        .with_hint("run `driftless sync` to check in and get an assignment")
    })?;
    let token = crate::registry::mint(&state, &id, crate::registry::pull_access(&release))?;
    let event = AuditEvent {
        at: crate::now(),
        actor: format!("install:{id}"),
        action: "install.registry_token".into(),
        subject: id.clone(),
        detail: serde_json::json!({
            "version": release.version.to_string(),
            "expires_in": token.expires_in,
        })
        .to_string(),
        request_id: crate::request_context::current_request_id(),
    };
    state.store.append_audit(&event).await?;
    Ok(Json(RegistryTokenResponse {
        version: release.version.to_string(),
        registry: RegistryAccess {
            host: state.config.registry_host.clone(),
            insecure: state.config.registry_insecure,
            token: token.token,
            expires_in: token.expires_in,
            issued_at: token.issued_at,
        },
    }))
}

/// The release document of the release `view`'s install is assigned now, if any.
pub async fn assigned_release(
    state: &AppState,
    view: &CheckinView,
) -> Result<Option<ReleaseDocument>, ApiError> {
    let Some(version) =
        crate::rollout::desired(view, view.running_version()).map(|d| d.release.version)
    else {
        return Ok(None);
    };
    let Some(release) = state.store.get_release(&view.install.app, &version).await? else {
        return Ok(None);
    };
    let env: Envelope = serde_json::from_str(&release.envelope).map_err(ApiError::internal)?;
    let doc = env
        .decode(RELEASE_PAYLOAD_TYPE, "release document")
        .map_err(ApiError::internal)?;
    Ok(Some(doc))
}
