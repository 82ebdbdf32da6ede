//! Releases (vendor API): upload one signed by vendor CI, list them, fetch one with
//! its signed document, and change its lifecycle state (deprecate, yank, restore).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use driftless_registry_token::{is_release_repository, release_repository};
use driftless_store::{Release, ReleaseState, RolloutState, RolloutUpdate};
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
    state.store.insert_release(&release).await?;
    audit::record(
        &state,
        "release.publish",
        &format!("{app}@{version}"),
        serde_json::json!({ "digest": release.digest, "release_counter": release.release_counter }),
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
    if !state.store.set_release_state(&app, &version, new).await? {
        return Err(ApiError::not_found(
            "unknown_release",
            format!("app `{app}` has no release {version}"),
        ));
    }
    let floor_warnings = if new == ReleaseState::Yanked {
        move_channels_off(&state, &app, &version).await?
    } else {
        Vec::new()
    };
    let messages: Vec<&str> = floor_warnings.iter().map(|w| w.message.as_str()).collect();
    audit::record(
        &state,
        &format!("release.{}", new.name()),
        &format!("{app}@{version}"),
        if messages.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({ "floor_warnings": messages })
        },
    )
    .await?;
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

/// After a yank: aborts the release's rollouts and points every channel that named
/// it at the channel's previous release that is not yanked. Returns, per channel whose
/// hosts go back below the yanked release's rollback floor, a warning.
async fn move_channels_off(
    state: &AppState,
    app: &str,
    version: &str,
) -> Result<Vec<FloorWarning>, ApiError> {
    let now = now();
    let mut warnings = Vec::new();
    for ch in state.store.list_channels(app).await? {
        // Where the channel's hosts that run the yanked release are sent back to.
        let mut back_to = None;
        if let Some(mut r) = state.store.active_rollout(app, &ch.name).await? {
            if r.version == version {
                r.state = RolloutState::Aborted;
                r.reason = Some(format!("release {version} was yanked"));
                r.updated_at = now;
                let detail = serde_json::json!({ "reason": r.reason });
                let audit = crate::rollout::audit_event(
                    &r,
                    &crate::access::current_actor(),
                    "rollout.abort",
                    detail,
                );
                let update = RolloutUpdate {
                    rollout: r,
                    channel_release: None,
                    audit: Some(audit),
                };
                state.store.update_rollout(&update).await?;
                back_to = ch.version.clone();
            }
        }
        if ch.version.as_deref() == Some(version) {
            back_to = fallback_release(state, app, &ch.name, version).await?;
            match &back_to {
                Some(v) => {
                    state
                        .store
                        .set_channel_release(app, &ch.name, v, now)
                        .await?
                }
                None => {
                    tracing::warn!(app, channel = %ch.name, version, "yanked release has no earlier release to fall back to")
                }
            }
        }
        if let Some(to) = back_to {
            let warning = crate::rollback_floor::warning(state, app, &ch.name, version, &to);
            warnings.extend(warning.await?);
        }
    }
    Ok(warnings)
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
