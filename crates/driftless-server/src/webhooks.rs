//! Webhooks: what happened (a rollout halted, resumed or completed, a release yanked,
//! a failure spike) becomes one queued delivery per registered URL that wants it, in
//! the database, so a restart loses none; [`delivery`] sends them off the request path,
//! signed (see [`driftless_wire::webhook`]), with retries and backoff, and [`spike`]
//! watches the fleet for failure spikes.

pub(crate) mod delivery;
pub(crate) mod spike;

use driftless_store::{Rollout, RolloutUpdate, WebhookEvent};
use driftless_wire::webhook::{
    WebhookEventBody, RELEASE_YANKED, ROLLOUT_COMPLETED, ROLLOUT_HALTED, ROLLOUT_RESUMED,
};

use crate::state::AppState;

/// How webhooks are delivered and when a failure spike is declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// How often a replica looks for due deliveries, in milliseconds.
    pub poll_ms: u64,
    /// Deliveries claimed (and sent concurrently) per look.
    pub batch: u32,
    /// How long a claim keeps other replicas off a delivery, in milliseconds; longer
    /// than `timeout_ms`, so only a replica that died mid-send lets another retry it.
    pub lease_ms: i64,
    /// How long one attempt may take, in milliseconds.
    pub timeout_ms: u64,
    /// Attempts before a delivery is given up (`failed`).
    pub max_attempts: u32,
    /// The wait after the first failed attempt, in milliseconds; it doubles per attempt.
    pub backoff_base_ms: u64,
    /// The longest wait between two attempts, in milliseconds.
    pub backoff_max_ms: u64,
    /// How often the fleet is checked for a failure spike, in seconds.
    pub spike_check_s: u64,
    /// A spike needs at least this many installs of the app reporting a failed apply…
    pub spike_min_failed: u64,
    /// …and at least this percentage of the app's installs that reported a status.
    pub spike_pct: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            poll_ms: 1_000,
            batch: 32,
            lease_ms: 60_000,
            timeout_ms: 10_000,
            max_attempts: 10,
            backoff_base_ms: 10_000,
            backoff_max_ms: 3_600_000,
            spike_check_s: 60,
            spike_min_failed: 3,
            spike_pct: 20,
        }
    }
}

/// Queues event `kind` about `app` for every webhook that wants it; false when it
/// opens an episode that is open already (nothing queued). The change it reports is
/// saved already, so a queueing failure is logged, not returned: the caller's answer
/// stays true.
pub(crate) async fn notify(
    state: &AppState,
    app: &str,
    kind: &str,
    data: serde_json::Value,
    opens_episode: bool,
) -> bool {
    let at = crate::now();
    let body = WebhookEventBody {
        id: format!("whe_{}", uuid::Uuid::new_v4().simple()),
        kind: kind.to_string(),
        app: app.to_string(),
        at,
        data,
    };
    let text = match serde_json::to_string(&body) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(app, kind, error = %e, "cannot encode a webhook event");
            return false;
        }
    };
    let event = WebhookEvent {
        app: app.to_string(),
        kind: kind.to_string(),
        event_id: body.id.clone(),
        body: text,
        at,
        opens_episode,
    };
    match state.store.enqueue_webhook_event(&event).await {
        Ok(Some(n)) => {
            tracing::info!(app, kind, event_id = %body.id, deliveries = n, "webhook event queued");
            true
        }
        Ok(None) => {
            tracing::debug!(app, kind, "episode already open; no webhook event");
            false
        }
        Err(e) => {
            tracing::error!(app, kind, error = %e, "cannot queue a webhook event; it is not sent");
            false
        }
    }
}

/// The webhook event a saved rollout change makes, if any.
fn rollout_event_kind(action: &str) -> Option<&'static str> {
    match action {
        "rollout.halt" => Some(ROLLOUT_HALTED),
        "rollout.resume" => Some(ROLLOUT_RESUMED),
        "rollout.complete" => Some(ROLLOUT_COMPLETED),
        _ => None,
    }
}

/// Queues the event of a rollout change `update` that was saved as `saved`.
pub(crate) async fn rollout_changed(state: &AppState, update: &RolloutUpdate, saved: &Rollout) {
    let Some(kind) = update
        .audit
        .as_ref()
        .and_then(|a| rollout_event_kind(&a.action))
    else {
        return;
    };
    let data = serde_json::json!({
        "rollout_id": saved.id,
        "channel": saved.channel,
        "version": saved.version,
        "previous_version": saved.previous_version,
        "state": saved.state.name(),
        "wave_index": saved.wave_index,
        "waves": saved.waves,
        "reason": saved.reason,
    });
    let _queued = notify(state, &saved.app, kind, data, false).await;
}

/// Queues `release.yanked` for `app@version`, naming the channels moved off it.
pub(crate) async fn release_yanked(
    state: &AppState,
    app: &str,
    version: &str,
    floor_warnings: &[&str],
) {
    let data = serde_json::json!({ "version": version, "floor_warnings": floor_warnings });
    let _queued = notify(state, app, RELEASE_YANKED, data, false).await;
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_halt_resume_and_complete_are_sent() {
        assert_eq!(rollout_event_kind("rollout.halt"), Some(ROLLOUT_HALTED));
        assert_eq!(rollout_event_kind("rollout.resume"), Some(ROLLOUT_RESUMED));
        assert_eq!(
            rollout_event_kind("rollout.complete"),
            Some(ROLLOUT_COMPLETED)
        );
        for quiet in [
            "rollout.advance",
            "rollout.pause",
            "rollout.abort",
            "rollout.start",
        ] {
            assert_eq!(rollout_event_kind(quiet), None, "{quiet}");
        }
    }
}
