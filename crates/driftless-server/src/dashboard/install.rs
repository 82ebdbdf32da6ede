//! One install: the signed assignment against what the host reports running, per
//! service; its health verdict, last check-in, status history, drift events, CLI
//! version and update policy.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use driftless_store::InstallSummary;
use driftless_wire::release::{Assignment, ReleaseDocument};
use driftless_wire::{Envelope, ASSIGNMENT_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE};

use super::page::{render, Chrome, PageError};
use super::session::Operator;
use super::time_format::{ago, when};
use super::waves::error_class;
use crate::error::ApiError;
use crate::state::AppState;

/// Transitions shown.
const HISTORY: u32 = 50;

pub(crate) struct ServiceRow {
    pub(crate) service: String,
    pub(crate) assigned: String,
    pub(crate) reported: String,
    pub(crate) matches: bool,
}

pub(crate) struct TransitionRow {
    pub(crate) at: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) version: String,
    pub(crate) class: String,
}

#[derive(Template)]
#[template(path = "install.html")]
pub(crate) struct InstallPage {
    pub(crate) chrome: Chrome,
    pub(crate) id: String,
    pub(crate) hostname: String,
    pub(crate) customer: String,
    pub(crate) app: String,
    pub(crate) channel: String,
    pub(crate) platform: String,
    pub(crate) desired: String,
    pub(crate) assignment: String,
    pub(crate) reported_version: String,
    pub(crate) status: String,
    pub(crate) verdict: &'static str,
    pub(crate) last_checkin: String,
    pub(crate) cli_version: String,
    pub(crate) policy: String,
    pub(crate) services: Vec<ServiceRow>,
    pub(crate) history: Vec<TransitionRow>,
    pub(crate) drift: Vec<TransitionRow>,
}

/// `GET /dashboard/installs/{id}`.
pub(crate) async fn page(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    render(&install_page(&state, &id, operator.csrf).await?)
}

/// The health gate's verdict, as a reported status says it.
fn verdict(status: &str) -> &'static str {
    match status {
        "converged" => "healthy",
        "applying" => "applying",
        s if s.starts_with("failed:") => "unhealthy",
        s if s.starts_with("drifted:") => "drifted",
        "" => "never checked in",
        _ => "unknown",
    }
}

/// The install page's data.
pub(crate) async fn install_page(
    state: &AppState,
    id: &str,
    csrf: String,
) -> Result<InstallPage, PageError> {
    let summary = state.store.install_summary(id).await?.ok_or_else(|| {
        ApiError::not_found("unknown_install", format!("install `{id}` does not exist"))
    })?;
    let view = state.store.checkin_view(id).await?;
    let assigned = match view.as_ref().and_then(|v| v.assignment.as_ref()) {
        Some(a) => decode_assignment(&a.envelope),
        None => None,
    };
    let services = services(state, &summary, assigned.as_ref()).await?;
    let history: Vec<TransitionRow> = state
        .store
        .status_transitions(id, HISTORY)
        .await?
        .into_iter()
        .map(|t| TransitionRow {
            at: when(t.at),
            from: t.from_status.unwrap_or_else(|| "(first report)".into()),
            class: t
                .reason
                .as_deref()
                .map(|r| error_class(Some(r), ""))
                .unwrap_or_default(),
            to: t.to_status,
            version: t.version.unwrap_or_default(),
        })
        .collect();
    let drift = history
        .iter()
        .filter(|t| t.to.starts_with("drifted"))
        .map(|t| TransitionRow { ..clone_row(t) })
        .collect();
    Ok(build(summary, assigned, services, history, drift, csrf))
}

fn clone_row(t: &TransitionRow) -> TransitionRow {
    TransitionRow {
        at: t.at.clone(),
        from: t.from.clone(),
        to: t.to.clone(),
        version: t.version.clone(),
        class: t.class.clone(),
    }
}

fn build(
    s: InstallSummary,
    assigned: Option<Assignment>,
    services: Vec<ServiceRow>,
    history: Vec<TransitionRow>,
    drift: Vec<TransitionRow>,
    csrf: String,
) -> InstallPage {
    let report = s.last_report;
    let status = report
        .as_ref()
        .map(|r| r.status.clone())
        .unwrap_or_default();
    InstallPage {
        chrome: Chrome {
            csrf,
            active: "fleet",
        },
        verdict: verdict(&status),
        last_checkin: report
            .as_ref()
            .map(|r| format!("{} ({})", when(r.at), ago(r.at, crate::now())))
            .unwrap_or_else(|| "never".into()),
        cli_version: report
            .as_ref()
            .map(|r| r.cli_version.clone())
            .unwrap_or_default(),
        policy: report
            .as_ref()
            .and_then(|r| r.policy.clone())
            .unwrap_or_else(|| "auto".into()),
        reported_version: report
            .as_ref()
            .and_then(|r| r.version.clone())
            .unwrap_or_else(|| "none".into()),
        assignment: assigned
            .map(|a| {
                format!(
                    "{} (sequence {}, {})",
                    a.version, a.sequence, a.release_digest
                )
            })
            .unwrap_or_else(|| "none yet".into()),
        status,
        desired: s.desired_version.unwrap_or_else(|| "none".into()),
        id: s.install.id,
        hostname: s.install.hostname,
        customer: s.install.customer,
        app: s.install.app,
        channel: s.install.channel,
        platform: s.install.platform,
        services,
        history,
        drift,
    }
}

/// The assignment as stored; its signature was made by this control plane.
fn decode_assignment(envelope: &str) -> Option<Assignment> {
    let env: Envelope = serde_json::from_str(envelope).ok()?;
    env.decode(ASSIGNMENT_PAYLOAD_TYPE, "assignment").ok()
}

async fn release_doc(
    state: &AppState,
    app: &str,
    version: &str,
) -> Result<Option<ReleaseDocument>, PageError> {
    let Some(release) = state.store.get_release(app, version).await? else {
        return Ok(None);
    };
    let env: Option<Envelope> = serde_json::from_str(&release.envelope).ok();
    Ok(env.and_then(|e| e.decode(RELEASE_PAYLOAD_TYPE, "release").ok()))
}

/// Per service: the image digest the signed assignment names and the one of the
/// release the host reports running.
async fn services(
    state: &AppState,
    s: &InstallSummary,
    assigned: Option<&Assignment>,
) -> Result<Vec<ServiceRow>, PageError> {
    let app = &s.install.app;
    let want = match assigned {
        Some(a) => release_doc(state, app, &a.version.to_string()).await?,
        None => None,
    };
    let running = s.last_report.as_ref().and_then(|r| r.version.clone());
    let have = match running {
        Some(v) => release_doc(state, app, &v).await?,
        None => None,
    };
    let mut names: Vec<String> = want
        .iter()
        .chain(have.iter())
        .flat_map(|d| d.images.iter().map(|i| i.service.clone()))
        .collect();
    names.sort();
    names.dedup();
    let digest = |doc: &Option<ReleaseDocument>, service: &str| {
        doc.as_ref()
            .and_then(|d| d.images.iter().find(|i| i.service == service))
            .map(|i| i.digest.to_string())
            .unwrap_or_else(|| "none".into())
    };
    Ok(names
        .into_iter()
        .map(|service| {
            let (assigned, reported) = (digest(&want, &service), digest(&have, &service));
            ServiceRow {
                matches: assigned == reported,
                service,
                assigned,
                reported,
            }
        })
        .collect())
}
