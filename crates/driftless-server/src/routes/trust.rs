//! Unauthenticated documents: server info and the root chain.

use axum::extract::{Path, State};
use axum::Json;
use driftless_wire::api::ServerInfo;
use driftless_wire::Digest;

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /v1/info`.
pub async fn info(State(state): State<AppState>) -> Result<Json<ServerInfo>, ApiError> {
    let keys = state.keys();
    let first = keys
        .roots
        .first()
        .ok_or_else(|| ApiError::internal("no root document loaded"))?;
    let payload = first.payload_bytes().map_err(ApiError::internal)?;
    Ok(Json(ServerInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        registry_host: state.config.registry_host.clone(),
        registry_insecure: state.config.registry_insecure,
        root_fingerprint: Digest::of(&payload).to_string(),
        root_version: keys.root.version,
        server_time: crate::now(),
        max_support_bundle_bytes: Some(state.config.max_support_bundle_bytes),
    }))
}

/// `GET /v1/trust/root/{version}`.
pub async fn root(
    State(state): State<AppState>,
    Path(version): Path<String>,
) -> Result<Json<driftless_wire::Envelope>, ApiError> {
    let v: usize = version
        .parse()
        .map_err(|_| ApiError::bad_request(format!("root version `{version}` is not a number")))?;
    let keys = state.keys();
    v.checked_sub(1)
        .and_then(|i| keys.roots.get(i))
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no_such_root", format!("no root version {v}")))
}
