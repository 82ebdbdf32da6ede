//! A release's SBOMs as the vendor reads them (`release sbom`): the bytes the release
//! document names by digest, from the artifact store.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::Response;

use super::lookup::{require_app, require_release};
use crate::error::ApiError;
use crate::gate::document_of;
use crate::routes::read_artifact;
use crate::state::AppState;

/// `GET /v1/apps/{app}/releases/{version}/sboms/{service}`.
pub async fn download(
    State(state): State<AppState>,
    Path((app, version, service)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    require_app(&state, &app).await?;
    let release = require_release(&state, &app, &version).await?;
    let doc = document_of(&release)?;
    let Some(r) = doc.sboms.iter().find(|s| s.service == service) else {
        return Err(ApiError::not_found(
            "unknown_sbom",
            format!("release {version} of `{app}` has no SBOM for service `{service}`"),
        ));
    };
    let Some(bytes) = read_artifact(&state, &r.digest).await? else {
        return Err(ApiError::not_found(
            "unknown_sbom",
            format!("the control plane does not hold SBOM {}", r.digest),
        ));
    };
    Response::builder()
        .header(header::CONTENT_TYPE, r.media_type.as_str())
        .body(Body::from(bytes))
        .map_err(ApiError::internal)
}
