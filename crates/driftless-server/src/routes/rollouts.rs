//! Staged rollouts (vendor API): start, list, pause, resume, advance, abort. The
//! waves and the automatic halt are decided in `crate::rollout`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use driftless_store::{
    Applied, AuditedChange, Channel, ReleaseState, Rollout, RolloutState, RolloutUpdate, StoreError,
};
use driftless_wire::api::{FloorWarning, RolloutInfo, StartRollout};

use super::audit;
use super::input::parse_json;
use super::lookup::{require_app, require_channel, require_release};
use crate::error::ApiError;
use crate::now;
use crate::rollout::{audit_event, step_update, Step};
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
        floor_warning: None,
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

/// Checks the numbers of a rollout request.
fn check_request(req: &StartRollout) -> Result<(), ApiError> {
    check_waves(&req.waves)?;
    if req.interval_s.is_some_and(|i| i < 1) || req.max_failure_pct > 100 {
        return Err(ApiError::bad_request(
            "interval must be at least 1s and the failure threshold at most 100%",
        ));
    }
    Ok(())
}

/// Requires a release that can be rolled out on a channel: published, not yanked,
/// and not the one the channel already points at.
async fn check_target(
    state: &AppState,
    app: &str,
    channel: &Channel,
    version: &str,
) -> Result<driftless_store::Release, ApiError> {
    let release = require_release(state, app, version).await?;
    if release.state == ReleaseState::Yanked {
        return Err(ApiError::conflict(
            "release_yanked",
            format!("release {version} is yanked and cannot be rolled out"),
        ));
    }
    if channel.version.as_deref() == Some(version) {
        return Err(ApiError::conflict(
            "already_current",
            format!("channel `{}` already points at {version}", channel.name),
        ));
    }
    Ok(release)
}

/// A running rollout of `req` on `channel`, its first wave open from `now`.
fn new_rollout(app: &str, channel: Channel, req: StartRollout, now: i64) -> Rollout {
    Rollout {
        id: 0,
        app: app.to_string(),
        channel: channel.name,
        version: req.version,
        previous_version: channel.version,
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
        revision: 0,
    }
}

/// `POST /v1/apps/{app}/channels/{channel}/rollouts`.
pub async fn start(
    State(state): State<AppState>,
    Path((app, channel)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<RolloutInfo>), ApiError> {
    let req: StartRollout = parse_json(&body, "rollout")?;
    check_request(&req)?;
    require_app(&state, &app).await?;
    let ch = require_channel(&state, &app, &channel).await?;
    let release = check_target(&state, &app, &ch, &req.version).await?;
    let gate_override = crate::gate::check(
        &state,
        &app,
        &channel,
        &release,
        req.override_gate.as_deref(),
    )
    .await?;
    let mut rollout = new_rollout(&app, ch, req, now());
    let subject = format!("{app}/{channel}@{}", rollout.version);
    let detail = serde_json::json!({ "waves": rollout.waves, "interval_s": rollout.interval_s });
    let change = AuditedChange::CreateRollout(rollout.clone());
    let applied = audit::apply_after(
        &state,
        gate_override,
        change,
        "rollout.start",
        &subject,
        detail,
    )
    .await
    .map_err(|e| active_refusal(e, &channel))?;
    let Applied::Rollout(id) = applied else {
        return Err(ApiError::internal("starting a rollout returned no rollout"));
    };
    rollout.id = id;
    Ok((StatusCode::CREATED, Json(info(&state, &rollout).await?)))
}

/// The store's refusal of a second active rollout on a channel, said as such.
fn active_refusal(e: ApiError, channel: &str) -> ApiError {
    if e.code != "conflict" {
        return e;
    }
    ApiError::conflict(
        "rollout_active",
        format!("channel `{channel}` already has an active rollout"),
    )
    .with_hint("pause, abort or finish it first")
}

/// `GET /v1/apps/{app}/rollouts`.
pub async fn list(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Vec<RolloutInfo>>, ApiError> {
    require_app(&state, &app).await?;
    let mut out = Vec::new();
    for r in state.store.list_rollouts(&app).await? {
        out.push(info(&state, &r).await?);
    }
    Ok(Json(out))
}

/// `POST /v1/apps/{app}/channels/{channel}/rollout/{action}`: pause, resume, advance, abort.
///
/// The change is made from the rollout as read and saved only if it did not change in
/// between (the ticker may have opened a wave or halted it): `409 rollout_changed`
/// otherwise, and nothing is saved.
pub async fn act(
    State(state): State<AppState>,
    Path((app, channel, action)): Path<(String, String, String)>,
) -> Result<Json<RolloutInfo>, ApiError> {
    Ok(Json(apply(&state, &app, &channel, &action).await?))
}

/// Makes an operator's `action` (`pause`, `resume`, `advance`, `abort`) on the active
/// rollout of `app`'s `channel`; the API and the dashboard both act through it.
pub(crate) async fn apply(
    state: &AppState,
    app: &str,
    channel: &str,
    action: &str,
) -> Result<RolloutInfo, ApiError> {
    require_app(state, app).await?;
    let r = state
        .store
        .active_rollout(app, channel)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "no_rollout",
                format!("channel `{channel}` of app `{app}` has no active rollout"),
            )
        })?;
    let now = now();
    let (update, floor_warning) = operator_update(state, r, action, now).await?;
    let saved = state
        .store
        .update_rollout(&update)
        .await
        .map_err(|e| changed_meanwhile(e, &update.rollout, action))?;
    crate::webhooks::rollout_changed(state, &update, &saved).await;
    let mut answer = info(state, &saved).await?;
    answer.floor_warning = floor_warning;
    Ok(answer)
}

/// The store update an operator's `action` makes to `r` as read, and the warning an
/// abort below a rollback floor gives.
async fn operator_update(
    state: &AppState,
    r: Rollout,
    action: &str,
    now: i64,
) -> Result<(RolloutUpdate, Option<FloorWarning>), ApiError> {
    if action == "advance" {
        if r.state == RolloutState::Halted {
            return Err(halted_cannot_advance(&r));
        }
        // The ticker's own step, so an operator's advance is recorded like the ticker's.
        let step = if (r.wave_index as usize) + 1 >= r.waves.len() {
            Step::Complete
        } else {
            Step::Advance
        };
        let update = step_update(r, step, &crate::access::current_actor(), now)
            .ok_or_else(|| ApiError::internal("an advance made no change"))?;
        return Ok((update, None));
    }
    let mut r = r;
    let channel_release = change_state(&mut r, action, now)?;
    r.updated_at = now;
    let floor_warning = match &channel_release {
        Some(prev) => {
            crate::rollback_floor::warning(state, &r.app, &r.channel, &r.version, prev).await?
        }
        None => None,
    };
    let detail = match &floor_warning {
        Some(w) => serde_json::json!({ "floor_warning": w.message }),
        None => serde_json::json!({}),
    };
    let audit = audit_event(
        &r,
        &crate::access::current_actor(),
        &format!("rollout.{action}"),
        detail,
    );
    let update = RolloutUpdate {
        rollout: r,
        channel_release,
        audit: Some(audit),
    };
    Ok((update, floor_warning))
}

/// `advance` on a halted rollout: it would hand a failing release to more installs.
fn halted_cannot_advance(r: &Rollout) -> ApiError {
    ApiError::conflict(
        "rollout_halted",
        format!(
            "cannot advance the rollout of {} on `{}`: it halted ({})",
            r.version,
            r.channel,
            r.reason.as_deref().unwrap_or("no reason recorded")
        ),
    )
    .with_hint(format!(
        "`driftless-vendor rollout resume --app {} --channel {}` continues it (the automatic halt applies again), `rollout abort` sends its hosts back",
        r.app, r.channel
    ))
}

/// A rollout that changed between the operator's read and write (the ticker opened a
/// wave or halted it, or another operator acted) is `409 rollout_changed`.
fn changed_meanwhile(e: StoreError, r: &Rollout, action: &str) -> ApiError {
    match e {
        StoreError::Stale { .. } => ApiError::conflict(
            "rollout_changed",
            format!(
                "the rollout of {} on `{}` changed while the {action} was being saved; nothing was changed",
                r.version, r.channel
            ),
        )
        .with_hint(format!(
            "see where it is now with `driftless-vendor rollout list --app {}` and repeat the {action} if it still applies",
            r.app
        )),
        other => other.into(),
    }
}

/// Applies `pause`, `resume` or `abort` to `r`; returns the release an abort points
/// the channel back at. Refuses any other action, or one `r`'s state does not allow.
fn change_state(r: &mut Rollout, action: &str, now: i64) -> Result<Option<String>, ApiError> {
    match action {
        "pause" if r.state == RolloutState::Running => r.state = RolloutState::Paused,
        "resume" if matches!(r.state, RolloutState::Paused | RolloutState::Halted) => {
            r.state = RolloutState::Running;
            r.reason = None;
            r.wave_started_at = now;
        }
        "abort" => {
            r.state = RolloutState::Aborted;
            r.reason = Some("aborted by an operator".into());
            return Ok(r.previous_version.clone());
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
                format!("unknown rollout action `{other}`"),
            )
            .with_hint("use pause, resume, advance or abort"))
        }
    }
    Ok(None)
}
