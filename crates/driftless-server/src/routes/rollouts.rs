//! Staged rollouts (vendor API): start, list, pause, resume, advance, abort; and the
//! release lifecycle (deprecate, yank) and moving an install between channels.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use driftless_store::{ReleaseState, Rollout, RolloutState};
use driftless_wire::api::{MoveInstall, RolloutInfo, SetReleaseState, StartRollout};

use super::parse_json;
use super::vendor::{audit, require_app, require_channel};
use crate::auth::require_operator;
use crate::error::ApiError;
use crate::now;
use crate::rollout::{apply_step, Step};
use crate::state::AppState;

async fn info(state: &AppState, r: &Rollout) -> Result<RolloutInfo, ApiError> {
    let o = state
        .store
        .rollout_outcomes(&r.app, &r.channel, &r.version)
        .await?;
    Ok(RolloutInfo {
        id: r.id,
        app: r.app.clone(),
        channel: r.channel.clone(),
        version: r.version.clone(),
        previous_version: r.previous_version.clone(),
        waves: r.waves.clone(),
        wave_index: r.wave_index,
        interval_s: r.interval_s,
        state: r.state.name().to_string(),
        reason: r.reason.clone(),
        tried: o.tried,
        failed: o.failed,
        converged: o.converged,
    })
}

fn check_waves(waves: &[u32]) -> Result<(), ApiError> {
    let increasing = waves.windows(2).all(|w| w[0] < w[1]);
    if waves.is_empty() || !increasing || waves.iter().any(|p| *p == 0 || *p > 100) {
        return Err(ApiError::bad_request(
            "waves must be increasing percentages between 1 and 100, e.g. 1%,10%,50%,100%",
        ));
    }
    Ok(())
}

/// `POST /v1/apps/{app}/channels/{channel}/rollouts`.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((app, channel)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<RolloutInfo>), ApiError> {
    require_operator(&state, &headers)?;
    let req: StartRollout = parse_json(&body, "rollout")?;
    check_waves(&req.waves)?;
    if req.interval_s.is_some_and(|i| i < 1) || req.max_failure_pct > 100 {
        return Err(ApiError::bad_request(
            "interval must be at least 1s and the failure threshold at most 100%",
        ));
    }
    require_app(&state, &app).await?;
    let ch = require_channel(&state, &app, &channel).await?;
    let release = state
        .store
        .get_release(&app, &req.version)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_release",
                format!(
                    "app `{app}` has no release {}; publish it first",
                    req.version
                ),
            )
        })?;
    if release.state == ReleaseState::Yanked {
        return Err(ApiError::conflict(
            "release_yanked",
            format!("release {} is yanked and cannot be rolled out", req.version),
        ));
    }
    if ch.version.as_deref() == Some(req.version.as_str()) {
        return Err(ApiError::conflict(
            "already_current",
            format!("channel `{channel}` already points at {}", req.version),
        ));
    }
    let now = now();
    let mut rollout = Rollout {
        id: 0,
        app: app.clone(),
        channel: channel.clone(),
        version: req.version.clone(),
        previous_version: ch.version,
        waves: req.waves,
        wave_index: 0,
        wave_started_at: now,
        interval_s: req.interval_s,
        state: RolloutState::Running,
        min_failures: req.min_failures,
        max_failure_pct: req.max_failure_pct,
        reason: None,
        created_at: now,
        updated_at: now,
    };
    rollout.id = state.store.create_rollout(&rollout).await.map_err(|e| match e {
        driftless_store::StoreError::Conflict { .. } => ApiError::conflict("rollout_active", format!("channel `{channel}` already has an active rollout; pause, abort or finish it first")),
        other => other.into(),
    })?;
    audit(
        &state,
        "rollout.start",
        &format!("{app}/{channel}@{}", rollout.version),
        serde_json::json!({ "waves": rollout.waves, "interval_s": rollout.interval_s }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(info(&state, &rollout).await?)))
}

/// `GET /v1/apps/{app}/rollouts`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Result<Json<Vec<RolloutInfo>>, ApiError> {
    require_operator(&state, &headers)?;
    require_app(&state, &app).await?;
    let mut out = Vec::new();
    for r in state.store.list_rollouts(&app).await? {
        out.push(info(&state, &r).await?);
    }
    Ok(Json(out))
}

/// `POST /v1/apps/{app}/channels/{channel}/rollout/{action}`: pause, resume, advance, abort.
pub async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((app, channel, action)): Path<(String, String, String)>,
) -> Result<Json<RolloutInfo>, ApiError> {
    require_operator(&state, &headers)?;
    require_app(&state, &app).await?;
    let mut r = state
        .store
        .active_rollout(&app, &channel)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "no_rollout",
                format!("channel `{channel}` of app `{app}` has no active rollout"),
            )
        })?;
    let now = now();
    match action.as_str() {
        "pause" if r.state == RolloutState::Running => r.state = RolloutState::Paused,
        "resume" if matches!(r.state, RolloutState::Paused | RolloutState::Halted) => {
            r.state = RolloutState::Running;
            r.reason = None;
            r.wave_started_at = now;
        }
        "advance" => {
            let step = if (r.wave_index as usize) + 1 >= r.waves.len() {
                Step::Complete
            } else {
                Step::Advance
            };
            let r = apply_step(&state, r, step, "operator", now).await?;
            return Ok(Json(info(&state, &r).await?));
        }
        "abort" => {
            if let Some(prev) = &r.previous_version {
                state
                    .store
                    .set_channel_release(&app, &channel, prev, now)
                    .await?;
            }
            r.state = RolloutState::Aborted;
            r.reason = Some("aborted by an operator".into());
        }
        "pause" | "resume" => {
            return Err(ApiError::conflict(
                "rollout_state",
                format!("cannot {action} a rollout that is {}", r.state.name()),
            ));
        }
        other => {
            return Err(ApiError::not_found(
                "unknown_action",
                format!("unknown rollout action `{other}`; use pause, resume, advance or abort"),
            ))
        }
    }
    r.updated_at = now;
    state.store.update_rollout(&r).await?;
    audit(
        &state,
        &format!("rollout.{action}"),
        &format!("{app}/{channel}@{}", r.version),
        serde_json::json!({}),
    )
    .await?;
    Ok(Json(info(&state, &r).await?))
}

/// `POST /v1/apps/{app}/releases/{version}/state`: deprecate, yank or restore a release.
///
/// Yanking moves every channel that points at the release back to the newest
/// non-yanked release it pointed at before, and aborts a rollout of it.
pub async fn set_release_state(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((app, version)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    require_operator(&state, &headers)?;
    let req: SetReleaseState = parse_json(&body, "release state")?;
    let new = ReleaseState::parse(&req.state).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown release state `{}`; use active, deprecated or yanked",
            req.state
        ))
    })?;
    require_app(&state, &app).await?;
    if !state.store.set_release_state(&app, &version, new).await? {
        return Err(ApiError::not_found(
            "unknown_release",
            format!("app `{app}` has no release {version}"),
        ));
    }
    if new == ReleaseState::Yanked {
        move_channels_off(&state, &app, &version).await?;
    }
    audit(
        &state,
        &format!("release.{}", new.name()),
        &format!("{app}@{version}"),
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn move_channels_off(state: &AppState, app: &str, version: &str) -> Result<(), ApiError> {
    let now = now();
    for ch in state.store.list_channels(app).await? {
        if let Some(mut r) = state.store.active_rollout(app, &ch.name).await? {
            if r.version == version {
                r.state = RolloutState::Aborted;
                r.reason = Some(format!("release {version} was yanked"));
                r.updated_at = now;
                state.store.update_rollout(&r).await?;
            }
        }
        if ch.version.as_deref() != Some(version) {
            continue;
        }
        let mut fallback = None;
        for v in state.store.channel_history(app, &ch.name).await? {
            if v == version {
                continue;
            }
            if let Some(rel) = state.store.get_release(app, &v).await? {
                if rel.state != ReleaseState::Yanked {
                    fallback = Some(v);
                    break;
                }
            }
        }
        match fallback {
            Some(v) => {
                state
                    .store
                    .set_channel_release(app, &ch.name, &v, now)
                    .await?
            }
            None => {
                tracing::warn!(app, channel = %ch.name, version, "yanked release has no earlier release to fall back to")
            }
        }
    }
    Ok(())
}

/// `POST /v1/installs/{id}/move`: puts an install on another channel of its app.
pub async fn move_install(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    require_operator(&state, &headers)?;
    let req: MoveInstall = parse_json(&body, "move request")?;
    let install = state
        .store
        .get_install(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_install", format!("no install `{id}`")))?;
    require_channel(&state, &install.app, &req.channel).await?;
    state.store.move_install(&id, &req.channel).await?;
    audit(
        &state,
        "install.move",
        &id,
        serde_json::json!({ "from": install.channel, "to": req.channel }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
