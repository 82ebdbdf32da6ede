//! Support bundles: an install uploads one (`POST /v1/installs/{id}/support-bundles`,
//! a request signed by its key and accepted once, at most `max_support_bundle_bytes`);
//! the vendor lists them (`GET …/support-bundles`) and downloads one
//! (`GET …/support-bundles/{n}`) with the operator token. They live in the database,
//! so every replica serves every upload; each upload and download is audited.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use driftless_store::{Applied, AuditedChange, ASSIGNED_ID};
use driftless_wire::api::SupportBundleInfo;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};

use super::audit;
use crate::auth::{authenticate_install, unknown_install, SignedRequest};
use crate::error::ApiError;
use crate::now;
use crate::state::AppState;

/// `413 support_bundle_too_large`, naming the cap.
fn too_large(size: Option<u64>, cap: u64) -> ApiError {
    let size = size.map_or_else(|| "more".to_string(), |s| s.to_string());
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "support_bundle_too_large",
        format!("the support bundle is {size} bytes; this control plane accepts at most {cap}"),
    )
    .with_hint("send fewer log lines (`driftless support-bundle --log-lines N`), or ask the vendor to raise `max_support_bundle_bytes`")
}

/// The body, read whole but never past `cap` bytes: a body announced or found larger
/// is refused before more of it is read.
async fn read_capped(headers: &HeaderMap, body: Body, cap: u64) -> Result<Vec<u8>, ApiError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = announced.filter(|n| *n > cap) {
        return Err(too_large(Some(n), cap));
    }
    let mut bytes = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(format!(
                "the support bundle upload broke off after {} bytes ({e})",
                bytes.len()
            ))
        })?;
        if (bytes.len() + chunk.len()) as u64 > cap {
            return Err(too_large(None, cap));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `POST /v1/installs/{id}/support-bundles`: stores the body, a bundle signed by
/// install `id`, and answers `201` with its number.
pub async fn upload(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<SupportBundleInfo>), ApiError> {
    let bytes = read_capped(&headers, body, state.config.max_support_bundle_bytes).await?;
    let path = format!("/v1/installs/{id}/support-bundles");
    let signed = SignedRequest {
        method: "POST",
        path: &path,
        body: &bytes,
    };
    authenticate_install(&state, &id, &headers, signed).await?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    let at = now();
    let detail =
        serde_json::json!({ "bundle": ASSIGNED_ID, "size": bytes.len(), "digest": digest });
    let change = AuditedChange::PutSupportBundle {
        install_id: id.clone(),
        bytes,
        digest,
        now: at,
    };
    let actor = format!("install:{id}");
    let applied = audit::apply_by(&state, actor, change, "support_bundle.upload", &id, detail);
    let Applied::SupportBundle(stored) = applied.await? else {
        return Err(ApiError::internal(
            "storing a support bundle returned no bundle",
        ));
    };
    tracing::info!(install = %id, bundle = stored.id, size = stored.size, "support bundle stored");
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Requires that install `id` exists.
async fn require_install(state: &AppState, id: &str) -> Result<(), ApiError> {
    match state.store.get_install(id).await? {
        Some(_) => Ok(()),
        None => Err(unknown_install(id).with_hint("list installs with `driftless-vendor fleet`")),
    }
}

/// `GET /v1/installs/{id}/support-bundles`: the install's bundles, newest first.
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<SupportBundleInfo>>, ApiError> {
    require_install(&state, &id).await?;
    Ok(Json(state.store.list_support_bundles(&id).await?))
}

/// `GET /v1/installs/{id}/support-bundles/{n}`: the bundle's bytes (`application/gzip`).
pub async fn download(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, u64)>,
) -> Result<Response, ApiError> {
    require_install(&state, &id).await?;
    let Some((info, bytes)) = state.store.get_support_bundle(&id, n).await? else {
        return Err(ApiError::not_found(
            "unknown_support_bundle",
            format!("install `{id}` uploaded no support bundle {n}"),
        )
        .with_hint(format!(
            "list its bundles with `driftless-vendor support-bundle list --install {id}`"
        )));
    };
    audit::record(
        &state,
        "support_bundle.download",
        &id,
        serde_json::json!({ "bundle": info.id, "size": info.size }),
    )
    .await?;
    let mut resp = Body::from(bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
    Ok(resp)
}
