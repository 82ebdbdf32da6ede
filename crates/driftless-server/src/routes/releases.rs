//! Releases (vendor API): upload one signed by vendor CI, list them, fetch one with
//! its signed document, and change its lifecycle state (deprecate, yank, restore).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use driftless_registry_token::{is_release_repository, release_repository};
use driftless_store::{AuditedChange, Release, ReleaseState, Rollout, RolloutState, RolloutUpdate};
use driftless_wire::api::{
    FloorWarning, ReleaseDetail, ReleaseInfo, ReleaseStateChanged, SetReleaseState, UploadRelease,
};
use driftless_wire::release::ReleaseDocument;
use driftless_wire::root::Role;
use driftless_wire::{Digest, Envelope, RELEASE_PAYLOAD_TYPE};

use super::audit;
use super::input::parse_json;
use super::lookup::require_app;
use crate::error::ApiError;
use crate::now;
use crate::state::AppState;

/// Checks the upload's signature, app and repositories; returns the document and
/// the digest of its signed payload.
fn verify_release_envelope(
    state: &AppState,
    app: &str,
    req: &UploadRelease,
) -> Result<(ReleaseDocument, Digest), ApiError> {
    let env = &req.envelope;
    let trust = state.keys();
    let (keys, threshold) = trust.root.role_keys(Role::Release);
    if env.verified_keyids(&keys).len() < threshold as usize {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_signature",
            format!(
                "release document is not signed by the release key of root version {}",
                trust.root.version
            ),
        )
        .with_hint("sign it with the release key `driftless-vendor init` created"));
    }
    let doc: ReleaseDocument = env
        .decode(RELEASE_PAYLOAD_TYPE, "release document")
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if doc.app != app || doc.doc_type != "release" {
        return Err(ApiError::bad_request(format!(
            "release document is for app `{}`, uploaded to `{app}`",
            doc.app
        )));
    }
    // A release's token names its repositories, so they must be its own and no other's.
    for repo in doc.repositories() {
        if !is_release_repository(&repo, app, doc.release_counter) {
            return Err(ApiError::bad_request(format!(
                "repository `{repo}` is not a repository of release {} of `{app}`",
                doc.release_counter
            ))
            .with_hint(format!(
                "publish it with `driftless-vendor publish`, which names them {}",
                release_repository(app, doc.release_counter, "<service>")
            )));
        }
    }
    let payload = env
        .payload_bytes()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((doc, Digest::of(&payload)))
}

/// Refuses a version `app` already has, and a counter not above its highest.
async fn check_new_release(
    state: &AppState,
    app: &str,
    doc: &ReleaseDocument,
) -> Result<(), ApiError> {
    let version = doc.version.to_string();
    if state.store.get_release(app, &version).await?.is_some() {
        return Err(ApiError::conflict(
            "release_exists",
            format!("app `{app}` already has release {version}"),
        )
        .with_hint("publish a new version"));
    }
    if doc.rollback_floor > doc.release_counter {
        return Err(ApiError::bad_request(format!(
            "rollback floor {} is above the release's own counter {}",
            doc.rollback_floor, doc.release_counter
        ))
        .with_hint("a rollback floor names an earlier release of the app"));
    }
    let highest = state.store.max_release_counter(app).await?;
    if doc.release_counter <= highest {
        return Err(ApiError::conflict(
            "stale_counter",
            format!(
                "release counter {} is not above {highest}, the highest of app `{app}`",
                doc.release_counter
            ),
        ));
    }
    Ok(())
}

/// `POST /v1/apps/{app}/releases`: store a release signed by vendor CI.
pub async fn upload(
    State(state): State<AppState>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<ReleaseInfo>), ApiError> {
    let req: UploadRelease = parse_json(&body, "release upload")?;
    require_app(&state, &app).await?;
    let (doc, digest) = verify_release_envelope(&state, &app, &req)?;
    check_new_release(&state, &app, &doc).await?;
    let version = doc.version.to_string();
    let envelope = serde_json::to_string(&req.envelope).map_err(ApiError::internal)?;
    let release = Release {
        app: app.clone(),
        version: version.clone(),
        release_counter: doc.release_counter,
        digest: digest.to_string(),
        envelope,
        created_at: now(),
        state: ReleaseState::Active,
    };
    let detail =
        serde_json::json!({ "digest": release.digest, "release_counter": release.release_counter });
    let change = AuditedChange::InsertRelease(release.clone());
    audit::apply(
        &state,
        change,
        "release.publish",
        &format!("{app}@{version}"),
        detail,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(release_info(&release))))
}

fn release_info(r: &Release) -> ReleaseInfo {
    ReleaseInfo {
        app: r.app.clone(),
        version: r.version.clone(),
        release_counter: r.release_counter,
        digest: r.digest.clone(),
        created_at: r.created_at,
        state: r.state.name().to_string(),
    }
}

/// `GET /v1/apps/{app}/releases`.
pub async fn list(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Vec<ReleaseInfo>>, ApiError> {
    require_app(&state, &app).await?;
    Ok(Json(
        state
            .store
            .list_releases(&app)
            .await?
            .iter()
            .map(release_info)
            .collect(),
    ))
}

/// `GET /v1/apps/{app}/releases/{version}`: one release with its signed document.
pub async fn get(
    State(state): State<AppState>,
    Path((app, version)): Path<(String, String)>,
) -> Result<Json<ReleaseDetail>, ApiError> {
    require_app(&state, &app).await?;
    let release = state
        .store
        .get_release(&app, &version)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_release",
                format!("app `{app}` has no release {version}"),
            )
            .with_hint(format!(
                "`driftless-vendor releases --app {app}` lists them"
            ))
        })?;
    let envelope: Envelope = serde_json::from_str(&release.envelope).map_err(ApiError::internal)?;
    Ok(Json(ReleaseDetail {
        info: release_info(&release),
        envelope,
    }))
}

/// `POST /v1/apps/{app}/releases/{version}/state`: deprecate, yank or restore a release.
///
/// Yanking moves every channel that points at the release back to the newest
/// non-yanked release it pointed at before, and aborts a rollout of it; the answer
/// names the channels whose hosts will refuse that move (the rollback floor).
pub async fn set_state(
    State(state): State<AppState>,
    Path((app, version)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<ReleaseStateChanged>, ApiError> {
    let req: SetReleaseState = parse_json(&body, "release state")?;
    let new = ReleaseState::parse(&req.state).ok_or_else(|| {
        ApiError::bad_request(format!("unknown release state `{}`", req.state))
            .with_hint("use active, deprecated or yanked")
    })?;
    require_app(&state, &app).await?;
    let plan = if new == ReleaseState::Yanked {
        plan_yank(&state, &app, &version).await?
    } else {
        YankPlan::default()
    };
    let floor_warnings = plan.warnings;
    let messages: Vec<&str> = floor_warnings.iter().map(|w| w.message.as_str()).collect();
    let detail = if messages.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::json!({ "floor_warnings": messages })
    };
    // The state, the channels sent back and the entry are one transaction.
    let change = AuditedChange::SetReleaseState {
        app: app.clone(),
        version: version.clone(),
        state: new,
        channel_moves: plan.moves,
        now: now(),
    };
    let action = format!("release.{}", new.name());
    let subject = format!("{app}@{version}");
    let applied = audit::apply(&state, change, &action, &subject, detail);
    if !applied.await?.happened() {
        return Err(ApiError::not_found(
            "unknown_release",
            format!("app `{app}` has no release {version}"),
        ));
    }
    abort_rollouts(&state, plan.aborts).await?;
    if new == ReleaseState::Yanked {
        crate::webhooks::release_yanked(&state, &app, &version, &messages).await;
    }
    Ok(Json(ReleaseStateChanged {
        app,
        version,
        state: new.name().to_string(),
        floor_warnings,
    }))
}

/// What a yank does besides the state: the channels sent back, the rollouts aborted,
/// and the warnings for channels whose hosts go below the yanked release's floor.
#[derive(Default)]
struct YankPlan {
    /// (channel, version): each channel that named the release, and where it goes.
    moves: Vec<(String, String)>,
    /// The release's active rollouts, as read.
    aborts: Vec<Rollout>,
    /// Per channel whose hosts go back below the yanked release's rollback floor.
    warnings: Vec<FloorWarning>,
}

/// Before a yank: which rollouts of the release to abort and where each channel that
/// names it goes (its previous release that is not yanked), read, not yet changed.
async fn plan_yank(state: &AppState, app: &str, version: &str) -> Result<YankPlan, ApiError> {
    let mut plan = YankPlan::default();
    for ch in state.store.list_channels(app).await? {
        // Where the channel's hosts that run the yanked release are sent back to.
        let mut back_to = None;
        if let Some(r) = state.store.active_rollout(app, &ch.name).await? {
            if r.version == version {
                plan.aborts.push(r);
                back_to = ch.version.clone();
            }
        }
        if ch.version.as_deref() == Some(version) {
            back_to = fallback_release(state, app, &ch.name, version).await?;
            match &back_to {
                Some(v) => plan.moves.push((ch.name.clone(), v.clone())),
                None => {
                    tracing::warn!(app, channel = %ch.name, version, "yanked release has no earlier release to fall back to")
                }
            }
        }
        if let Some(to) = back_to {
            let warning = crate::rollback_floor::warning(state, app, &ch.name, version, &to);
            plan.warnings.extend(warning.await?);
        }
    }
    Ok(plan)
}

/// After a yank: aborts the release's rollouts, each with its own entry.
async fn abort_rollouts(state: &AppState, rollouts: Vec<Rollout>) -> Result<(), ApiError> {
    let now = now();
    for mut r in rollouts {
        r.state = RolloutState::Aborted;
        r.reason = Some(format!("release {} was yanked", r.version));
        r.updated_at = now;
        let detail = serde_json::json!({ "reason": r.reason });
        let actor = crate::access::current_actor();
        let audit = crate::rollout::audit_event(&r, &actor, "rollout.abort", detail);
        let update = RolloutUpdate {
            rollout: r,
            channel_release: None,
            audit: Some(audit),
        };
        state.store.update_rollout(&update).await?;
    }
    Ok(())
}

/// The newest release `channel` pointed at, other than `yanked`, that is not yanked.
async fn fallback_release(
    state: &AppState,
    app: &str,
    channel: &str,
    yanked: &str,
) -> Result<Option<String>, ApiError> {
    for v in state.store.channel_history(app, channel).await? {
        if v == yanked {
            continue;
        }
        if let Some(rel) = state.store.get_release(app, &v).await? {
            if rel.state != ReleaseState::Yanked {
                return Ok(Some(v));
            }
        }
    }
    Ok(None)
}
