//! Failure spikes: every `spike_check_s`, per app, the installs whose last report is a
//! failed apply (`failed:<reason>`) are counted against the app's installs that
//! reported a status at all. At least `spike_min_failed` of them and at least
//! `spike_pct` percent is a spike. The first check that sees one opens an episode and
//! sends `fleet.failure_spike` once; checks that see it go on send nothing; the first
//! check under the threshold closes it, so the next spike is sent again. The episode
//! lives in the database, so neither a restart nor a second replica sends it twice.

use std::collections::BTreeMap;
use std::time::Duration;

use driftless_store::{FleetCount, StoreResult};
use driftless_wire::webhook::FAILURE_SPIKE;
use tokio::task::JoinHandle;

use super::{now_ms, WebhookSettings};
use crate::state::AppState;

/// One app's installs that reported, and those that reported a failed apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AppFailures {
    pub(crate) reporting: u64,
    pub(crate) failed: u64,
}

impl AppFailures {
    /// Whether it is a spike under `s`.
    pub(crate) fn is_spike(&self, s: &WebhookSettings) -> bool {
        self.failed >= s.spike_min_failed.max(1)
            && self.failed.saturating_mul(100) >= s.spike_pct.saturating_mul(self.reporting)
    }
}

/// Per app, from the database's counts.
pub(crate) fn failures_by_app(counts: &[FleetCount]) -> BTreeMap<String, AppFailures> {
    let mut out: BTreeMap<String, AppFailures> = BTreeMap::new();
    for c in counts {
        let entry = out.entry(c.app.clone()).or_default();
        if c.status == "new" || c.status == "uninstalled" {
            continue;
        }
        entry.reporting += c.installs;
        if c.status == "failed" || c.status.starts_with("failed:") {
            entry.failed += c.installs;
        }
    }
    out
}

/// One check of every app on counts made now; returns how many spikes were newly sent.
pub(crate) async fn check(state: &AppState) -> StoreResult<usize> {
    let counts = state.store.fleet_summary(None).await?.counts;
    check_counts(state, &counts).await
}

/// One check of every app on `counts`; returns how many spikes were newly sent.
async fn check_counts(state: &AppState, counts: &[FleetCount]) -> StoreResult<usize> {
    let mut sent = 0;
    for (app, f) in failures_by_app(counts) {
        if !f.is_spike(&state.webhooks) {
            state
                .store
                .close_webhook_episode(&app, FAILURE_SPIKE)
                .await?;
            continue;
        }
        let data = serde_json::json!({
            "failed_installs": f.failed,
            "reporting_installs": f.reporting,
            "threshold": {
                "min_failed": state.webhooks.spike_min_failed,
                "pct": state.webhooks.spike_pct,
            },
        });
        if super::notify(state, &app, FAILURE_SPIKE, data, true).await {
            sent += 1;
        }
    }
    Ok(sent)
}

/// The fleet's counts: the metrics aggregate's when it is no older than one check
/// interval (on a large fleet the grouped count is a scan of every install, and the
/// aggregate already made it), else counted now.
async fn fleet_counts(state: &AppState) -> StoreResult<Vec<FleetCount>> {
    let fresh_for = i64::try_from(state.webhooks.spike_check_s).unwrap_or(i64::MAX);
    if let Some(snapshot) = state.metrics.fleet.current() {
        if crate::now().saturating_sub(snapshot.at) <= fresh_for {
            return Ok(snapshot.counts.clone());
        }
    }
    Ok(state.store.fleet_summary(None).await?.counts)
}

/// The lease that makes one replica at a time count the fleet for spikes (the
/// episode row alone would keep a second replica from sending twice; the lease spares
/// the database a second grouped count).
const SPIKE_LEASE: &str = "webhook-spike-check";

/// Starts the spike check for `state`; [`crate::serve`] runs it.
pub fn spawn(state: AppState) -> JoinHandle<()> {
    let holder = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    tokio::spawn(async move {
        let every = Duration::from_secs(state.webhooks.spike_check_s.max(1));
        let ttl_ms = i64::try_from((every * 3).as_millis()).unwrap_or(i64::MAX);
        let mut timer = tokio::time::interval(every);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            match state
                .store
                .try_lease(SPIKE_LEASE, &holder, now_ms(), ttl_ms)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take the failure-spike check's lease; skipping this check");
                    continue;
                }
            }
            let checked = match fleet_counts(&state).await {
                Ok(counts) => check_counts(&state, &counts).await,
                Err(e) => Err(e),
            };
            if let Err(e) = checked {
                tracing::warn!(error = %e, "cannot check the fleet for a failure spike; will retry");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_store::FleetSummary;

    fn count(app: &str, status: &str, installs: u64) -> FleetCount {
        FleetCount {
            app: app.into(),
            channel: "stable".into(),
            version: Some("1.0.0".into()),
            status: status.into(),
            reason: None,
            installs,
        }
    }

    #[test]
    fn a_spike_needs_both_the_count_and_the_share() {
        let s = WebhookSettings::default();
        let spike = |reporting, failed| AppFailures { reporting, failed }.is_spike(&s);
        assert!(!spike(10, 2), "two failures are under the minimum of three");
        assert!(!spike(100, 19), "19% is under 20%");
        assert!(spike(100, 20));
        assert!(spike(3, 3));
    }

    #[test]
    fn failures_are_counted_per_app_among_installs_that_reported() {
        let summary = FleetSummary {
            total: 0,
            counts: vec![
                count("a", "converged", 6),
                count("a", "failed:health_failed", 3),
                count("a", "failed", 1),
                count("a", "new", 50),
                count("b", "converged", 9),
            ],
        };
        let by_app = failures_by_app(&summary.counts);
        assert_eq!(
            by_app["a"],
            AppFailures {
                reporting: 10,
                failed: 4
            }
        );
        assert_eq!(
            by_app["b"],
            AppFailures {
                reporting: 9,
                failed: 0
            }
        );
    }
}
