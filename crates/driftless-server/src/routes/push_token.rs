//! Registry push tokens (vendor API): a short-lived token for vendor CI to push an
//! app's images and descriptor, scoped to repositories under the app's namespace.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use driftless_registry_token::{valid_repository_name, Access};
use driftless_wire::api::{PushTokenRequest, TokenResponse};

use super::audit;
use super::input::parse_json;
use super::lookup::require_app;
use crate::auth::require_operator;
use crate::error::ApiError;
use crate::state::AppState;

/// `POST /v1/apps/{app}/push-token`: a short-lived push token for vendor CI.
pub async fn issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Json<TokenResponse>, ApiError> {
    require_operator(&state, &headers)?;
    let req: PushTokenRequest = parse_json(&body, "push token request")?;
    require_app(&state, &app).await?;
    let prefix = format!("{app}/");
    let mut access = Vec::new();
    for repo in &req.repositories {
        if !repo.starts_with(&prefix) || !valid_repository_name(repo) {
            return Err(ApiError::bad_request(format!(
                "repository `{repo}` is not a valid name under `{prefix}`"
            )));
        }
        access.push(Access {
            kind: "repository".into(),
            name: repo.clone(),
            actions: vec!["pull".into(), "push".into()],
        });
    }
    let token = crate::registry::mint(&state, "operator", access)?;
    audit::record(
        &state,
        "registry.push_token",
        &app,
        serde_json::json!({ "repositories": req.repositories }),
    )
    .await?;
    Ok(Json(token))
}
