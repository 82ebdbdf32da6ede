//! The vendor API: apps, channels, releases, customers, licenses, the fleet, audit.
//! Every route needs the operator token.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use driftless_registry_token::{valid_repository_name, Access};
use driftless_store::{AuditEntry, AuditEvent, License, Release};
use driftless_wire::api::{
    AppInfo, ChannelInfo, CreateApp, CreateChannel, CreateCustomer, CreateLicense, CustomerInfo,
    InstallInfo, LicenseInfo, Promote, PushTokenRequest, ReleaseDetail, ReleaseInfo, TokenResponse,
    UploadRelease,
};
use driftless_wire::release::ReleaseDocument;
use driftless_wire::root::Role;
use driftless_wire::{Digest, Envelope, RELEASE_PAYLOAD_TYPE};
use rand::RngCore as _;
use serde::Deserialize;

use super::{check_name, parse_json};
use crate::auth::{require_operator, secret_hash};
use crate::error::ApiError;
use crate::now;
use crate::state::AppState;

pub(crate) async fn audit(
    state: &AppState,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let event = AuditEvent {
        at: now(),
        actor: "operator".into(),
        action: action.into(),
        subject: subject.into(),
        detail: detail.to_string(),
    };
    state.store.append_audit(&event).await?;
    Ok(())
}

pub(crate) async fn require_app(state: &AppState, app: &str) -> Result<(), ApiError> {
    match state.store.get_app(app).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(
            "unknown_app",
            format!("unknown app `{app}`; create it with `driftless-vendor app create {app}`"),
        )),
    }
}

pub(crate) async fn require_channel(
    state: &AppState,
    app: &str,
    channel: &str,
) -> Result<driftless_store::Channel, ApiError> {
    state.store.get_channel(app, channel).await?.ok_or_else(|| {
        ApiError::not_found(
            "unknown_channel",
            format!("unknown channel `{channel}` of app `{app}`; create it with `driftless-vendor channel create --app {app} {channel}`"),
        )
    })
}

/// `POST /v1/apps`.
pub async fn create_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<AppInfo>), ApiError> {
    require_operator(&state, &headers)?;
    let req: CreateApp = parse_json(&body, "app")?;
    check_name("app", &req.name)?;
    state.store.create_app(&req.name, now()).await?;
    audit(&state, "app.create", &req.name, serde_json::json!({})).await?;
    Ok((
        StatusCode::CREATED,
        Json(AppInfo {
            name: req.name,
            channels: vec![],
        }),
    ))
}

/// `GET /v1/apps`.
pub async fn list_apps(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<AppInfo>>, ApiError> {
    require_operator(&state, &headers)?;
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

/// `POST /v1/apps/{app}/channels`.
pub async fn create_channel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<ChannelInfo>), ApiError> {
    require_operator(&state, &headers)?;
    let req: CreateChannel = parse_json(&body, "channel")?;
    check_name("channel", &req.name)?;
    require_app(&state, &app).await?;
    state.store.create_channel(&app, &req.name, now()).await?;
    audit(
        &state,
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
    headers: HeaderMap,
    Path((app, channel)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<ChannelInfo>, ApiError> {
    require_operator(&state, &headers)?;
    let req: Promote = parse_json(&body, "promote request")?;
    require_app(&state, &app).await?;
    require_channel(&state, &app, &channel).await?;
    if let Some(r) = state.store.active_rollout(&app, &channel).await? {
        return Err(ApiError::conflict(
            "rollout_active",
            format!("channel `{channel}` has an active rollout of {} ({}); abort it or let it finish before promoting", r.version, r.state.name()),
        ));
    }
    match state.store.get_release(&app, &req.version).await? {
        None => {
            return Err(ApiError::not_found(
                "unknown_release",
                format!(
                    "app `{app}` has no release {}; publish it first",
                    req.version
                ),
            ))
        }
        Some(r) if r.state == driftless_store::ReleaseState::Yanked => {
            return Err(ApiError::conflict(
                "release_yanked",
                format!("release {} is yanked and cannot be promoted", req.version),
            ))
        }
        Some(_) => {}
    }
    state
        .store
        .set_channel_release(&app, &channel, &req.version, now())
        .await?;
    audit(
        &state,
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

fn verify_release_envelope(
    state: &AppState,
    app: &str,
    req: &UploadRelease,
) -> Result<(ReleaseDocument, Digest), ApiError> {
    let env = &req.envelope;
    let trust = state.keys();
    let (keys, threshold) = trust.root.role_keys(Role::Release);
    if env.verified_keyids(&keys).len() < threshold as usize {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_signature", format!(
            "release document is not signed by the release key of root version {}; sign it with the release key `driftless-vendor init` created",
            trust.root.version
        )));
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
    let prefix = format!("{app}/");
    for repo in doc.repositories() {
        if !repo.starts_with(&prefix) || !valid_repository_name(&repo) {
            return Err(ApiError::bad_request(format!(
                "repository `{repo}` is not a valid name under the app's namespace `{prefix}`"
            )));
        }
    }
    let payload = env
        .payload_bytes()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((doc, Digest::of(&payload)))
}

/// `POST /v1/apps/{app}/releases`: store a release signed by vendor CI.
pub async fn upload_release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<ReleaseInfo>), ApiError> {
    require_operator(&state, &headers)?;
    let req: UploadRelease = parse_json(&body, "release upload")?;
    require_app(&state, &app).await?;
    let (doc, digest) = verify_release_envelope(&state, &app, &req)?;
    let version = doc.version.to_string();
    if state.store.get_release(&app, &version).await?.is_some() {
        return Err(ApiError::conflict(
            "release_exists",
            format!("app `{app}` already has release {version}; publish a new version"),
        ));
    }
    let highest = state.store.max_release_counter(&app).await?;
    if doc.release_counter <= highest {
        return Err(ApiError::conflict(
            "stale_counter",
            format!(
                "release counter {} is not above {highest}, the highest of app `{app}`",
                doc.release_counter
            ),
        ));
    }
    let envelope = serde_json::to_string(&req.envelope).map_err(ApiError::internal)?;
    let release = Release {
        app: app.clone(),
        version: version.clone(),
        release_counter: doc.release_counter,
        digest: digest.to_string(),
        envelope,
        created_at: now(),
        state: driftless_store::ReleaseState::Active,
    };
    state.store.insert_release(&release).await?;
    audit(
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
pub async fn list_releases(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Result<Json<Vec<ReleaseInfo>>, ApiError> {
    require_operator(&state, &headers)?;
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
pub async fn get_release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((app, version)): Path<(String, String)>,
) -> Result<Json<ReleaseDetail>, ApiError> {
    require_operator(&state, &headers)?;
    require_app(&state, &app).await?;
    let release = state
        .store
        .get_release(&app, &version)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_release",
                format!("app `{app}` has no release {version}; `driftless-vendor releases --app {app}` lists them"),
            )
        })?;
    let envelope: Envelope = serde_json::from_str(&release.envelope).map_err(ApiError::internal)?;
    Ok(Json(ReleaseDetail {
        info: release_info(&release),
        envelope,
    }))
}

/// `POST /v1/apps/{app}/push-token`: a short-lived push token for vendor CI.
pub async fn push_token(
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
    audit(
        &state,
        "registry.push_token",
        &app,
        serde_json::json!({ "repositories": req.repositories }),
    )
    .await?;
    Ok(Json(token))
}

/// `POST /v1/customers`.
pub async fn create_customer(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<CustomerInfo>), ApiError> {
    require_operator(&state, &headers)?;
    let req: CreateCustomer = parse_json(&body, "customer")?;
    let name = req.name.trim();
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "customer name must be 1 to 128 printable characters",
        ));
    }
    let c = state.store.create_customer(name, now()).await?;
    audit(&state, "customer.create", name, serde_json::json!({})).await?;
    Ok((
        StatusCode::CREATED,
        Json(CustomerInfo {
            name: c.name,
            created_at: c.created_at,
        }),
    ))
}

/// `GET /v1/customers`.
pub async fn list_customers(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<CustomerInfo>>, ApiError> {
    require_operator(&state, &headers)?;
    let list = state.store.list_customers().await?;
    Ok(Json(
        list.into_iter()
            .map(|c| CustomerInfo {
                name: c.name,
                created_at: c.created_at,
            })
            .collect(),
    ))
}

fn license_info(l: &License, key: Option<String>) -> LicenseInfo {
    LicenseInfo {
        id: l.id.clone(),
        customer: l.customer.clone(),
        app: l.app.clone(),
        channel: l.channel.clone(),
        revoked: l.revoked,
        key,
    }
}

/// `POST /v1/licenses`: the answer carries the secret key, the only time it is shown.
pub async fn create_license(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<LicenseInfo>), ApiError> {
    require_operator(&state, &headers)?;
    let req: CreateLicense = parse_json(&body, "license")?;
    if state.store.get_customer(&req.customer).await?.is_none() {
        return Err(ApiError::not_found(
            "unknown_customer",
            format!(
                "unknown customer `{}`; create it with `driftless-vendor customer create`",
                req.customer
            ),
        ));
    }
    require_app(&state, &req.app).await?;
    if state
        .store
        .get_channel(&req.app, &req.channel)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(
            "unknown_channel",
            format!("unknown channel `{}` of app `{}`", req.channel, req.app),
        ));
    }
    let mut secret = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let key = format!("dl_{}", hex::encode(secret));
    let license = License {
        id: format!("lic_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
        customer: req.customer.clone(),
        app: req.app.clone(),
        channel: req.channel.clone(),
        key_hash: secret_hash(&key),
        revoked: false,
        created_at: now(),
    };
    state.store.create_license(&license).await?;
    audit(
        &state,
        "license.create",
        &license.id,
        serde_json::json!({ "customer": req.customer, "app": req.app, "channel": req.channel }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(license_info(&license, Some(key)))))
}

/// `GET /v1/licenses`.
pub async fn list_licenses(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<LicenseInfo>>, ApiError> {
    require_operator(&state, &headers)?;
    Ok(Json(
        state
            .store
            .list_licenses()
            .await?
            .iter()
            .map(|l| license_info(l, None))
            .collect(),
    ))
}

/// `POST /v1/licenses/{id}/revoke`: revokes the license and every install of it.
pub async fn revoke_license(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_operator(&state, &headers)?;
    if !state.store.revoke_license(&id, now()).await? {
        return Err(ApiError::not_found(
            "unknown_license",
            format!("no license `{id}`"),
        ));
    }
    audit(&state, "license.revoke", &id, serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/installs/{id}/revoke`.
pub async fn revoke_install(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_operator(&state, &headers)?;
    if !state.store.revoke_install(&id, now()).await? {
        return Err(ApiError::not_found(
            "unknown_install",
            format!("no install `{id}`"),
        ));
    }
    audit(&state, "install.revoke", &id, serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /v1/installs`.
#[derive(Deserialize)]
pub struct FleetQuery {
    app: Option<String>,
}

/// `GET /v1/installs[?app=A]`: the fleet.
pub async fn list_installs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FleetQuery>,
) -> Result<Json<Vec<InstallInfo>>, ApiError> {
    require_operator(&state, &headers)?;
    if let Some(app) = &q.app {
        require_app(&state, app).await?;
    }
    let rows = state.store.list_installs(q.app.as_deref()).await?;
    let mut rollouts: std::collections::HashMap<
        (String, String),
        Option<driftless_store::Rollout>,
    > = Default::default();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let key = (r.install.app.clone(), r.install.channel.clone());
        if !rollouts.contains_key(&key) {
            let active = state.store.active_rollout(&key.0, &key.1).await?;
            rollouts.insert(key.clone(), active);
        }
        let rollout = rollouts.get(&key).and_then(Option::as_ref);
        out.push(install_info(r, rollout));
    }
    Ok(Json(out))
}

/// One fleet row: the desired version follows the install's wave of an active rollout.
fn install_info(
    r: driftless_store::InstallSummary,
    rollout: Option<&driftless_store::Rollout>,
) -> InstallInfo {
    let report = r.last_report;
    let in_wave =
        rollout.filter(|ro| crate::rollout::seed(&r.install.id) < crate::rollout::seed_limit(ro));
    let desired_version = in_wave.map(|ro| ro.version.clone()).or(r.desired_version);
    let mut reason: Option<driftless_wire::status::Reason> = report
        .as_ref()
        .and_then(|x| x.reason.as_deref())
        .and_then(|t| serde_json::from_str(t).ok());
    if let (None, Some(ro)) = (&in_wave, rollout) {
        if reason.is_none() {
            reason = Some(driftless_wire::status::Reason {
                code: driftless_wire::status::ReasonCode::WaitingForWave,
                detail: format!(
                    "{} is rolling out ({}, wave {} of {}); this install's wave has not opened",
                    ro.version,
                    ro.state.name(),
                    ro.wave_index + 1,
                    ro.waves.len()
                ),
            });
        }
    }
    InstallInfo {
        id: r.install.id,
        customer: r.install.customer,
        app: r.install.app,
        channel: r.install.channel,
        hostname: r.install.hostname,
        desired_version,
        current_version: report.as_ref().and_then(|x| x.version.clone()),
        status: report
            .as_ref()
            .map(|x| x.status.clone())
            .unwrap_or_else(|| "new".into()),
        last_seen: report.as_ref().map(|x| x.at),
        revoked: r.install.revoked,
        target_version: report.as_ref().and_then(|x| x.target_version.clone()),
        reason,
    }
}

/// Query of `GET /v1/audit`.
#[derive(Deserialize)]
pub struct AuditQuery {
    limit: Option<u32>,
}

/// `GET /v1/audit`.
pub async fn list_audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    require_operator(&state, &headers)?;
    Ok(Json(
        state
            .store
            .list_audit(q.limit.unwrap_or(100).min(10_000))
            .await?,
    ))
}
