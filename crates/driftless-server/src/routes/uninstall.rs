//! `POST /v1/installs/{id}/uninstall`: a host says, with a signed request accepted once,
//! that `driftless uninstall` removed its app. The install is revoked (its key is
//! refused from then on) and listed as uninstalled in the fleet view, only when asked.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use driftless_store::AuditedChange;
use driftless_wire::checkin::UninstallRequest;

use super::input::parse_json;
use crate::auth::{authenticate_install, SignedRequest};
use crate::error::ApiError;
use crate::now;
use crate::state::AppState;

/// Marks install `id` uninstalled, audited as the install's own action.
pub async fn uninstall(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let path = format!("/v1/installs/{id}/uninstall");
    let signed = SignedRequest {
        method: "POST",
        path: &path,
        body: &body,
    };
    authenticate_install(&state, &id, &headers, signed).await?;
    let req: UninstallRequest = parse_json(&body, "uninstall request")?;
    let at = now();
    let detail = serde_json::json!({ "keep_data": req.keep_data, "version": req.version });
    let change = AuditedChange::UninstallInstall {
        id: id.clone(),
        now: at,
    };
    let actor = format!("install:{id}");
    let applied = super::audit::apply_by(&state, actor, change, "install.uninstall", &id, detail);
    if !applied.await?.happened() {
        return Err(ApiError::not_found(
            "unknown_install",
            format!("unknown install `{id}`"),
        ));
    }
    tracing::info!(install = %id, keep_data = req.keep_data, "install uninstalled");
    Ok(StatusCode::NO_CONTENT)
}
