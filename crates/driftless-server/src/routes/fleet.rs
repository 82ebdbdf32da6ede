//! The fleet as the vendor manages it (vendor API): list installs with what each
//! should run and reported, revoke one, move one to another channel. What a host
//! calls itself (registration, check-in) is in `install`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use driftless_store::{InstallSummary, Rollout};
use driftless_wire::api::{InstallInfo, MoveInstall};
use driftless_wire::status::Reason;
use serde::Deserialize;

use super::audit;
use super::input::parse_json;
use super::lookup::{require_app, require_channel};
use crate::auth::require_operator;
use crate::error::ApiError;
use crate::now;
use crate::state::AppState;

/// Query of `GET /v1/installs`.
#[derive(Deserialize)]
pub struct FleetQuery {
    app: Option<String>,
    /// `all` also lists uninstalled installs; `uninstalled` lists only them.
    #[serde(default)]
    show: Option<String>,
}

/// Which installs the fleet view lists.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Show {
    /// Installs in use (the default).
    Active,
    /// Every install, uninstalled ones included.
    All,
    /// Only uninstalled installs.
    Uninstalled,
}

impl Show {
    fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("active") => Ok(Show::Active),
            Some("all") => Ok(Show::All),
            Some("uninstalled") => Ok(Show::Uninstalled),
            Some(other) => Err(
                ApiError::bad_request(format!("unknown fleet filter show={other}"))
                    .with_hint("use show=active (the default), show=all or show=uninstalled"),
            ),
        }
    }

    fn lists(self, r: &InstallSummary) -> bool {
        let uninstalled = r.install.uninstalled_at.is_some();
        match self {
            Show::Active => !uninstalled,
            Show::All => true,
            Show::Uninstalled => uninstalled,
        }
    }
}

/// `GET /v1/installs[?app=A][&show=all|uninstalled]`: the fleet; installs that were
/// uninstalled only when asked for.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FleetQuery>,
) -> Result<Json<Vec<InstallInfo>>, ApiError> {
    require_operator(&state, &headers)?;
    let show = Show::parse(q.show.as_deref())?;
    if let Some(app) = &q.app {
        require_app(&state, app).await?;
    }
    let mut rows = state.store.list_installs(q.app.as_deref()).await?;
    rows.retain(|r| show.lists(r));
    // Looked up once per (app, channel), not once per install.
    let mut rollouts: HashMap<(String, String), Option<Rollout>> = HashMap::new();
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

/// One fleet row: the desired version follows the rollout the install follows.
fn install_info(r: InstallSummary, rollout: Option<&Rollout>) -> InstallInfo {
    let report = r.last_report;
    let running = report.as_ref().and_then(|x| x.version.as_deref());
    let followed = rollout.filter(|ro| crate::rollout::follows(ro, &r.install.id, running));
    let desired_version = followed.map(|ro| ro.version.clone()).or(r.desired_version);
    let mut reason: Option<Reason> = report
        .as_ref()
        .and_then(|x| x.reason.as_deref())
        .and_then(|t| serde_json::from_str(t).ok());
    if let (None, Some(ro)) = (&followed, rollout) {
        if reason.is_none() {
            reason = Some(crate::rollout::held_off(ro));
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
        status: if r.install.uninstalled_at.is_some() {
            "uninstalled".into()
        } else {
            report
                .as_ref()
                .map(|x| x.status.clone())
                .unwrap_or_else(|| "new".into())
        },
        last_seen: report.as_ref().map(|x| x.at),
        revoked: r.install.revoked,
        target_version: report.as_ref().and_then(|x| x.target_version.clone()),
        reason,
        policy: report.as_ref().and_then(|x| x.policy.clone()),
        waiting: report
            .as_ref()
            .and_then(|x| x.waiting.as_deref())
            .and_then(|t| serde_json::from_str(t).ok()),
        uninstalled_at: r.install.uninstalled_at,
    }
}

/// `POST /v1/installs/{id}/revoke`.
pub async fn revoke(
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
    audit::record(&state, "install.revoke", &id, serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/installs/{id}/move`: puts an install on another channel of its app.
pub async fn move_to_channel(
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
    audit::record(
        &state,
        "install.move",
        &id,
        serde_json::json!({ "from": install.channel, "to": req.channel }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
