//! The fleet as the vendor manages it (vendor API): list installs with what each
//! should run and reported, revoke one, move one to another channel. What a host
//! calls itself (registration, check-in) is in `install`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use driftless_store::{
    AuditedChange, FleetSummary, InstallFilter, InstallShow, InstallSummary, Rollout,
};
use driftless_wire::api::{InstallInfo, MoveInstall};
use driftless_wire::status::Reason;
use serde::Deserialize;

use super::audit;
use super::input::parse_json;
use super::lookup::{require_app, require_channel};
use super::page_cursor;
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
    /// Where the page starts: the previous page's `Driftless-Next-Cursor`.
    #[serde(default)]
    cursor: Option<String>,
    /// Installs per page (default 1000, at most 10000).
    #[serde(default)]
    limit: Option<u32>,
}

fn parse_show(value: Option<&str>) -> Result<InstallShow, ApiError> {
    match value {
        None | Some("active") => Ok(InstallShow::Active),
        Some("all") => Ok(InstallShow::All),
        Some("uninstalled") => Ok(InstallShow::Uninstalled),
        Some(other) => Err(
            ApiError::bad_request(format!("unknown fleet filter show={other}"))
                .with_hint("use show=active (the default), show=all or show=uninstalled"),
        ),
    }
}

/// `GET /v1/installs[?app=A][&show=all|uninstalled][&cursor=C][&limit=N]`: one page of
/// the fleet in registration order, as a JSON array; `Driftless-Next-Cursor` names the
/// next page when there is one. Installs that were uninstalled only when asked for.
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<FleetQuery>,
) -> Result<(HeaderMap, Json<Vec<InstallInfo>>), ApiError> {
    let filter = InstallFilter {
        app: q.app.clone(),
        show: parse_show(q.show.as_deref())?,
    };
    let after = q
        .cursor
        .as_deref()
        .map(page_cursor::decode_install)
        .transpose()?;
    if let Some(app) = &q.app {
        require_app(&state, app).await?;
    }
    let limit = page_cursor::limit(q.limit, page_cursor::DEFAULT_LIMIT);
    let page = state
        .store
        .list_installs_page(&filter, after.as_ref(), limit)
        .await?;
    // Looked up once per (app, channel) of the page, not once per install.
    let mut rollouts: HashMap<(String, String), Option<Rollout>> = HashMap::new();
    let mut out = Vec::with_capacity(page.items.len());
    for r in page.items {
        let key = (r.install.app.clone(), r.install.channel.clone());
        if !rollouts.contains_key(&key) {
            let active = state.store.active_rollout(&key.0, &key.1).await?;
            rollouts.insert(key.clone(), active);
        }
        let rollout = rollouts.get(&key).and_then(Option::as_ref);
        out.push(install_info(r, rollout));
    }
    let next = page.next.as_ref().map(page_cursor::encode_install);
    Ok((page_cursor::next_headers(next), Json(out)))
}

/// Query of `GET /v1/fleet/summary`.
#[derive(Deserialize)]
pub struct SummaryQuery {
    app: Option<String>,
}

/// `GET /v1/fleet/summary[?app=A]`: how many installs run each version with each
/// status and reason, per app and channel, counted by the database.
pub async fn summary(
    State(state): State<AppState>,
    Query(q): Query<SummaryQuery>,
) -> Result<Json<FleetSummary>, ApiError> {
    if let Some(app) = &q.app {
        require_app(&state, app).await?;
    }
    Ok(Json(state.store.fleet_summary(q.app.as_deref()).await?))
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
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let change = AuditedChange::RevokeInstall {
        id: id.clone(),
        now: now(),
    };
    let applied =
        audit::apply(&state, change, "install.revoke", &id, serde_json::json!({})).await?;
    if !applied.happened() {
        return Err(ApiError::not_found(
            "unknown_install",
            format!("no install `{id}`"),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/installs/{id}/move`: puts an install on another channel of its app.
pub async fn move_to_channel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: MoveInstall = parse_json(&body, "move request")?;
    let install = state
        .store
        .get_install(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_install", format!("no install `{id}`")))?;
    require_channel(&state, &install.app, &req.channel).await?;
    if let Some((_, terms)) = state.store.get_license(&install.license_id).await? {
        if !terms.allows_channel(&req.channel) {
            return Err(crate::license_terms::channel_not_allowed(
                &install.license_id,
                &req.channel,
                &terms.channels,
            ));
        }
    }
    let detail = serde_json::json!({ "from": install.channel, "to": req.channel });
    let change = AuditedChange::MoveInstall {
        id: id.clone(),
        channel: req.channel,
    };
    audit::apply(&state, change, "install.move", &id, detail).await?;
    Ok(StatusCode::NO_CONTENT)
}
