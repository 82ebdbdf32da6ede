//! The fleet overview: installs by version over time, by status and reason, stale
//! installs, and what each channel points at. Everything but the channel list comes
//! from the fleet aggregate (computed off the request path), so the page costs the
//! same with a million installs.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::chart::adoption_svg;
use super::page::{render, Chrome, PageError};
use super::session::Operator;
use super::time_format::{ago, when};
use crate::state::AppState;

/// The fleet page.
pub(crate) const PATH: &str = "/dashboard";

pub(crate) struct StatusRow {
    pub(crate) status: String,
    pub(crate) reason: String,
    pub(crate) installs: u64,
}

pub(crate) struct ChannelRow {
    pub(crate) app: String,
    pub(crate) channel: String,
    pub(crate) version: String,
    pub(crate) rollout: String,
}

#[derive(Template)]
#[template(path = "fleet.html")]
pub(crate) struct FleetPage {
    pub(crate) chrome: Chrome,
    pub(crate) computed: String,
    pub(crate) total: u64,
    pub(crate) chart: String,
    pub(crate) statuses: Vec<StatusRow>,
    pub(crate) stale_after: String,
    pub(crate) stale: Vec<(String, String, u64)>,
    pub(crate) channels: Vec<ChannelRow>,
}

/// `GET /dashboard`.
pub(crate) async fn page(
    State(state): State<AppState>,
    operator: Operator,
) -> Result<Response, PageError> {
    render(&fleet_page(&state, operator.csrf).await?)
}

/// The fleet page's data; the aggregate is computed now if none ran yet.
pub(crate) async fn fleet_page(state: &AppState, csrf: String) -> Result<FleetPage, PageError> {
    let snapshot = match state.metrics.fleet.current() {
        Some(s) => s,
        None => {
            crate::metrics_fleet::aggregate(state).await?;
            state.metrics.fleet.current().ok_or_else(|| {
                crate::error::ApiError::internal("the fleet aggregate kept nothing")
            })?
        }
    };
    let mut by_status: BTreeMap<(String, String), u64> = BTreeMap::new();
    for c in &snapshot.counts {
        let reason = c.reason.clone().unwrap_or_default();
        *by_status.entry((c.status.clone(), reason)).or_default() += c.installs;
    }
    let statuses = by_status
        .into_iter()
        .map(|((status, reason), installs)| StatusRow {
            status,
            reason,
            installs,
        })
        .collect();
    let stale = snapshot
        .stale
        .iter()
        .map(|s| (s.app.clone(), s.channel.clone(), s.installs))
        .collect();
    Ok(FleetPage {
        chrome: Chrome {
            csrf,
            active: "fleet",
        },
        computed: format!("{} ({})", when(snapshot.at), ago(snapshot.at, crate::now())),
        total: snapshot.counts.iter().map(|c| c.installs).sum(),
        chart: adoption_svg(&state.metrics.fleet.adoption()),
        statuses,
        stale_after: format!("{} s", snapshot.stale_after_s),
        stale,
        channels: channel_rows(state).await?,
    })
}

async fn channel_rows(state: &AppState) -> Result<Vec<ChannelRow>, PageError> {
    let mut rows = Vec::new();
    for app in state.store.list_apps().await? {
        for c in state.store.list_channels(&app.name).await? {
            let rollout = state
                .store
                .active_rollout(&app.name, &c.name)
                .await?
                .map(|r| format!("{} {}", r.state.name(), r.version))
                .unwrap_or_default();
            rows.push(ChannelRow {
                app: app.name.clone(),
                channel: c.name,
                version: c.version.unwrap_or_else(|| "none".into()),
                rollout,
            });
        }
    }
    Ok(rows)
}
