//! `POST /v1/installs/{id}/audit-checkpoint`: the newest signed audit checkpoint, to a
//! signed request of the install, with the hash the log holds now at the tree size of
//! the checkpoint the host saw last. The host checks that hash against the one it saw
//! (see `driftless_trust::require_witnessed_extension`): the entries themselves, the
//! only proof a hash chain has, are the vendor's business and are not sent.
//!
//! Asked only when a check-in answer's header names another tree size than the host
//! saw last, so at most once per new checkpoint (one a minute) per host.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use driftless_wire::audit_checkpoint::{WitnessRequest, WitnessResponse};
use driftless_wire::Envelope;

use crate::auth::{authenticate_install, SignedRequest};
use crate::error::ApiError;
use crate::routes::input::parse_json;
use crate::state::AppState;

/// Handles `POST /v1/installs/{id}/audit-checkpoint`.
pub async fn witness(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WitnessResponse>, ApiError> {
    let path = format!("/v1/installs/{id}/audit-checkpoint");
    let signed = SignedRequest {
        method: "POST",
        path: &path,
        body: &body,
    };
    authenticate_install(&state, &id, &headers, signed).await?;
    let req: WitnessRequest = parse_json(&body, "audit checkpoint request")?;
    let newest = state
        .store
        .latest_audit_checkpoint()
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "no_audit_checkpoint",
                "this control plane has signed no audit checkpoint",
            )
        })?;
    let checkpoint: Envelope =
        serde_json::from_str(&newest.envelope).map_err(ApiError::internal)?;
    let hash_at_since = match req.since {
        Some(since) => hash_of_entry(&state, since).await?,
        None => None,
    };
    Ok(Json(WitnessResponse {
        checkpoint,
        hash_at_since,
    }))
}

/// The hash the log holds now for entry `seq`; `None` when there is no such entry.
async fn hash_of_entry(state: &AppState, seq: u64) -> Result<Option<String>, ApiError> {
    let page = state
        .store
        .list_audit_page(Some(seq.saturating_add(1)), 1)
        .await?;
    Ok(page
        .items
        .into_iter()
        .find(|e| e.seq == seq)
        .map(|e| e.hash))
}
