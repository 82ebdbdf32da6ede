//! Apps (vendor API): create one, list them with their channels.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use driftless_store::AuditedChange;
use driftless_wire::api::{AppInfo, ChannelInfo, CreateApp};

use super::audit;
use super::input::{check_name, parse_json};
use crate::error::ApiError;
use crate::now;
use crate::state::AppState;

/// `POST /v1/apps`.
pub async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<AppInfo>), ApiError> {
    let req: CreateApp = parse_json(&body, "app")?;
    check_name("app", &req.name)?;
    let change = AuditedChange::CreateApp {
        name: req.name.clone(),
        now: now(),
    };
    audit::apply(
        &state,
        change,
        "app.create",
        &req.name,
        serde_json::json!({}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(AppInfo {
            name: req.name,
            channels: vec![],
        }),
    ))
}

/// `GET /v1/apps`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<AppInfo>>, ApiError> {
    let mut out = Vec::new();
    for app in state.store.list_apps().await? {
        let channels = state
            .store
            .list_channels(&app.name)
            .await?
            .into_iter()
            .map(|c| ChannelInfo {
                name: c.name,
                version: c.version,
            })
            .collect();
        out.push(AppInfo {
            name: app.name,
            channels,
        });
    }
    Ok(Json(out))
}
