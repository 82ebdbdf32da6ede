//! The rollouts page: each rollout with its waves, the halt reason with the failing
//! hosts and their error class, and the operator's actions, each behind a
//! confirmation page whose form carries the session's CSRF token.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use driftless_store::{Rollout, RolloutState};

use super::page::{render, Chrome, PageError};
use super::session::{form, Operator};
use super::time_format::when;
use super::waves::{FailingHost, WaveCounts};
use crate::access::Need;
use crate::error::ApiError;
use crate::state::AppState;

/// The rollouts page.
pub(crate) const PATH: &str = "/dashboard/rollouts";
/// What an operator can do to a rollout.
const ACTIONS: [&str; 4] = ["pause", "resume", "advance", "abort"];

pub(crate) struct RolloutView {
    pub(crate) id: i64,
    pub(crate) app: String,
    pub(crate) channel: String,
    pub(crate) version: String,
    pub(crate) previous: String,
    pub(crate) state: &'static str,
    pub(crate) reason: String,
    pub(crate) updated: String,
    pub(crate) tried: u64,
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) waves: Vec<WaveCounts>,
    pub(crate) failing: Vec<FailingHost>,
    pub(crate) actions: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "rollouts.html")]
pub(crate) struct RolloutsPage {
    pub(crate) chrome: Chrome,
    pub(crate) rollouts: Vec<RolloutView>,
}

/// `GET /dashboard/rollouts`.
pub(crate) async fn page(
    State(state): State<AppState>,
    operator: Operator,
) -> Result<Response, PageError> {
    render(&rollouts_page(&state, operator.csrf).await?)
}

/// The page's data: every app's rollouts, newest first; waves counted for active ones.
pub(crate) async fn rollouts_page(
    state: &AppState,
    csrf: String,
) -> Result<RolloutsPage, PageError> {
    let mut rollouts = Vec::new();
    for app in state.store.list_apps().await? {
        for r in state.store.list_rollouts(&app.name).await? {
            rollouts.push(view(state, r).await?);
        }
    }
    Ok(RolloutsPage {
        chrome: Chrome {
            csrf,
            active: "rollouts",
        },
        rollouts,
    })
}

fn actions(state: RolloutState) -> Vec<&'static str> {
    match state {
        RolloutState::Running => vec!["pause", "advance", "abort"],
        RolloutState::Paused => vec!["resume", "advance", "abort"],
        RolloutState::Halted => vec!["resume", "abort"],
        RolloutState::Aborted | RolloutState::Completed => Vec::new(),
    }
}

/// A rollout as the page shows it. Only an active rollout's installs are counted
/// (counting is a walk of its channel); a finished one shows its state and reason.
async fn view(state: &AppState, r: Rollout) -> Result<RolloutView, PageError> {
    let counted = if r.state.is_active() {
        let cache = &state.dashboard.waves;
        Some(cache.get(&state.store, &r, cache).await?)
    } else {
        None
    };
    let (tried, succeeded, failed) = counted.as_ref().map_or((0, 0, 0), |w| w.totals());
    let (waves, failing) = counted.map_or((Vec::new(), Vec::new()), |w| (w.waves, w.failing));
    Ok(RolloutView {
        id: r.id,
        actions: actions(r.state),
        state: r.state.name(),
        reason: r.reason.unwrap_or_default(),
        updated: when(r.updated_at),
        previous: r.previous_version.unwrap_or_else(|| "none".into()),
        app: r.app,
        channel: r.channel,
        version: r.version,
        tried,
        succeeded,
        failed,
        waves,
        failing,
    })
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    app: String,
    channel: String,
    action: String,
    version: String,
    previous: String,
}

fn known_action(action: &str) -> Result<(), PageError> {
    if ACTIONS.contains(&action) {
        return Ok(());
    }
    Err(PageError(
        ApiError::not_found(
            "unknown_action",
            format!("unknown rollout action `{action}`"),
        )
        .with_hint("use pause, resume, advance or abort"),
    ))
}

/// `GET /dashboard/rollouts/{app}/{channel}/{action}`: asks to confirm.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    operator: Operator,
    Path((app, channel, action)): Path<(String, String, String)>,
) -> Result<Response, PageError> {
    known_action(&action)?;
    let r = state
        .store
        .active_rollout(&app, &channel)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "no_rollout",
                format!("channel `{channel}` of app `{app}` has no active rollout"),
            )
        })?;
    render(&ConfirmPage {
        chrome: Chrome {
            csrf: operator.csrf,
            active: "rollouts",
        },
        app,
        channel,
        action,
        version: r.version,
        previous: r.previous_version.unwrap_or_else(|| "none".into()),
    })
}

/// `POST /dashboard/rollouts/{app}/{channel}/{action}`: does it (CSRF checked first),
/// exactly as the API's rollout action does, then shows the rollouts.
pub(crate) async fn act(
    State(state): State<AppState>,
    operator: Operator,
    Path((app, channel, action)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, PageError> {
    operator.check_csrf(&form(&body))?;
    known_action(&action)?;
    crate::access::permit(&operator.principal, Need::Release, Some(&app))?;
    let actor = operator.principal.actor.clone();
    crate::access::as_actor(
        actor,
        crate::routes::rollouts::apply(&state, &app, &channel, &action),
    )
    .await?;
    tracing::info!(%app, %channel, %action, "rollout action from the dashboard");
    Ok(Redirect::to(PATH).into_response())
}
