//! A channel's promotion policy (vendor API): show it, replace it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use driftless_sbom::ChannelPolicy;
use driftless_store::AuditedChange;

use super::audit;
use super::input::parse_json;
use super::lookup::{require_app, require_channel};
use crate::error::ApiError;
use crate::gate::{osv_data, policy_of};
use crate::now;
use crate::state::AppState;

/// `GET /v1/apps/{app}/channels/{channel}/policy`: the policy, and the age of the OSV
/// data set it would be evaluated against.
pub async fn show(
    State(state): State<AppState>,
    Path((app, channel)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_app(&state, &app).await?;
    require_channel(&state, &app, &channel).await?;
    let policy = policy_of(&state, &app, &channel).await?;
    let osv = osv_data(&state).await?;
    Ok(Json(serde_json::json!({
        "policy": policy,
        "osv": osv.map(|o| serde_json::json!({
            "advisories": o.advisories.len(),
            "newest_modified": o.newest_modified,
            "age_days": o.age_days(now()),
        })),
    })))
}

/// `PUT /v1/apps/{app}/channels/{channel}/policy`: replaces the policy; refuses a
/// licence that is not an SPDX identifier.
pub async fn set(
    State(state): State<AppState>,
    Path((app, channel)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<ChannelPolicy>, ApiError> {
    let policy: ChannelPolicy = parse_json(&body, "channel policy")?;
    policy.check().map_err(|e| {
        ApiError::bad_request(e.to_string())
            .with_hint("use SPDX identifiers, e.g. MIT, Apache-2.0, GPL-3.0-only")
    })?;
    require_app(&state, &app).await?;
    require_channel(&state, &app, &channel).await?;
    let json = serde_json::to_string(&policy).map_err(ApiError::internal)?;
    let change = AuditedChange::SetChannelPolicy {
        app: app.clone(),
        channel: channel.clone(),
        policy_json: json,
        now: now(),
    };
    audit::apply(
        &state,
        change,
        "channel.policy",
        &format!("{app}/{channel}"),
        serde_json::to_value(&policy).map_err(ApiError::internal)?,
    )
    .await?;
    Ok(Json(policy))
}
