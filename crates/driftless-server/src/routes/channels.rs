//! Channels (vendor API): create one, and promote a release to it at once (a staged
//! promotion is a rollout, in `rollouts`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use driftless_store::{AuditedChange, ReleaseState};
use driftless_wire::api::{ChannelInfo, CreateChannel, Promote};

use super::audit;
use super::input::{check_name, parse_json};
use super::lookup::{require_app, require_channel, require_release};
use crate::error::ApiError;
use crate::now;
use crate::state::AppState;

/// `POST /v1/apps/{app}/channels`.
pub async fn create(
    State(state): State<AppState>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<ChannelInfo>), ApiError> {
    let req: CreateChannel = parse_json(&body, "channel")?;
    check_name("channel", &req.name)?;
    require_app(&state, &app).await?;
    let change = AuditedChange::CreateChannel {
        app: app.clone(),
        name: req.name.clone(),
        now: now(),
    };
    audit::apply(
        &state,
        change,
        "channel.create",
        &format!("{app}/{}", req.name),
        serde_json::json!({}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ChannelInfo {
            name: req.name,
            version: None,
        }),
    ))
}

/// `POST /v1/apps/{app}/channels/{channel}/promote`.
pub async fn promote(
    State(state): State<AppState>,
    Path((app, channel)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<ChannelInfo>, ApiError> {
    let req: Promote = parse_json(&body, "promote request")?;
    require_app(&state, &app).await?;
    require_channel(&state, &app, &channel).await?;
    if let Some(r) = state.store.active_rollout(&app, &channel).await? {
        return Err(ApiError::conflict(
            "rollout_active",
            format!(
                "channel `{channel}` has an active rollout of {} ({})",
                r.version,
                r.state.name()
            ),
        )
        .with_hint("abort it or let it finish before promoting"));
    }
    let release = require_release(&state, &app, &req.version).await?;
    if release.state == ReleaseState::Yanked {
        return Err(ApiError::conflict(
            "release_yanked",
            format!("release {} is yanked and cannot be promoted", req.version),
        ));
    }
    let gate_override = crate::gate::check(
        &state,
        &app,
        &channel,
        &release,
        req.override_gate.as_deref(),
    )
    .await?;
    let change = AuditedChange::SetChannelRelease {
        app: app.clone(),
        channel: channel.clone(),
        version: req.version.clone(),
        now: now(),
    };
    audit::apply_after(
        &state,
        gate_override,
        change,
        "channel.promote",
        &format!("{app}/{channel}"),
        serde_json::json!({ "version": req.version }),
    )
    .await?;
    Ok(Json(ChannelInfo {
        name: channel,
        version: Some(req.version),
    }))
}
