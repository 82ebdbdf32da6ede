//! Each wave of an active rollout, with how its installs fared: counted by walking the
//! channel's installs in keyset pages (a wave is a range of install seeds, which no
//! index knows). A page waits for the walk only the first time a process shows a
//! rollout; after that it shows the last counts and recounts in the background.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftless_store::{InstallCursor, InstallFilter, InstallSummary, Rollout, Store, StoreError};

use crate::rollout::{seed, SEED_SPACE};

/// How long counts are reused.
const FRESH_FOR: Duration = Duration::from_secs(5);
/// Installs read per page of the walk.
const PAGE: u32 = 5000;
/// Failing hosts listed per rollout.
const MAX_FAILING: usize = 50;

/// One wave: its share of the channel and how its installs fared.
#[derive(Clone, Debug, Default)]
pub(crate) struct WaveCounts {
    /// Cumulative percentage of the channel.
    pub(crate) percent: u32,
    /// Whether it opened.
    pub(crate) opened: bool,
    /// Installs whose seed falls in this wave (not in an earlier one).
    pub(crate) installs: u64,
    /// Of those, the ones that tried the release.
    pub(crate) tried: u64,
    /// Of those, the ones running it, converged.
    pub(crate) succeeded: u64,
    /// Of those, the ones that failed on it.
    pub(crate) failed: u64,
    /// Installs of an opened wave that have not tried it yet.
    pub(crate) pending: u64,
}

/// A host that failed on the rollout's release.
#[derive(Clone, Debug)]
pub(crate) struct FailingHost {
    pub(crate) id: String,
    pub(crate) hostname: String,
    /// The error class: the reason's code, or the status.
    pub(crate) class: String,
}

/// What the walk found.
#[derive(Clone, Debug, Default)]
pub(crate) struct RolloutWaves {
    pub(crate) waves: Vec<WaveCounts>,
    pub(crate) failing: Vec<FailingHost>,
}

impl RolloutWaves {
    /// Tried, succeeded and failed over every wave.
    pub(crate) fn totals(&self) -> (u64, u64, u64) {
        self.waves.iter().fold((0, 0, 0), |(t, s, f), w| {
            (t + w.tried, s + w.succeeded, f + w.failed)
        })
    }
}

/// Counts by rollout id, with when they were counted and whether a recount runs.
#[derive(Default)]
pub(crate) struct WaveCache(Mutex<HashMap<i64, Counted>>);

struct Counted {
    at: Instant,
    waves: RolloutWaves,
    recounting: bool,
}

impl WaveCache {
    /// The waves of `r`. Counts a rollout never counted here at once (a walk of its
    /// channel); otherwise answers the counts it has and, when they are older than a
    /// few seconds, recounts in the background, so a page never waits for a walk twice.
    pub(crate) async fn get(
        &self,
        store: &Arc<dyn Store>,
        r: &Rollout,
        cache: &Arc<WaveCache>,
    ) -> Result<RolloutWaves, StoreError> {
        let stale = {
            let mut map = self.lock();
            match map.get_mut(&r.id) {
                Some(c) => {
                    let stale = c.at.elapsed() >= FRESH_FOR && !c.recounting;
                    c.recounting |= stale;
                    Some((c.waves.clone(), stale))
                }
                None => None,
            }
        };
        match stale {
            Some((waves, false)) => Ok(waves),
            Some((waves, true)) => {
                let (store, cache, r) = (store.clone(), cache.clone(), r.clone());
                tokio::spawn(async move {
                    match walk(&*store, &r).await {
                        Ok(w) => cache.keep(r.id, w),
                        Err(e) => {
                            tracing::warn!(error = %e, rollout = r.id, "cannot count the rollout's waves");
                            cache.keep_old(r.id);
                        }
                    }
                });
                Ok(waves)
            }
            None => {
                let waves = walk(&**store, r).await?;
                self.keep(r.id, waves.clone());
                Ok(waves)
            }
        }
    }

    fn keep(&self, id: i64, waves: RolloutWaves) {
        let counted = Counted {
            at: Instant::now(),
            waves,
            recounting: false,
        };
        self.lock().insert(id, counted);
    }

    fn keep_old(&self, id: i64) {
        if let Some(c) = self.lock().get_mut(&id) {
            c.recounting = false;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Counted>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The seed limit of a wave of `percent` (as [`crate::rollout::seed_limit`] rounds).
fn limit(percent: u32) -> u32 {
    (percent.min(100) * SEED_SPACE).div_ceil(100)
}

async fn walk(store: &dyn Store, r: &Rollout) -> Result<RolloutWaves, StoreError> {
    let mut out = RolloutWaves {
        waves: r
            .waves
            .iter()
            .enumerate()
            .map(|(i, p)| WaveCounts {
                percent: *p,
                opened: i <= r.wave_index as usize,
                ..WaveCounts::default()
            })
            .collect(),
        failing: Vec::new(),
    };
    let filter = InstallFilter {
        app: Some(r.app.clone()),
        ..InstallFilter::default()
    };
    let mut after: Option<InstallCursor> = None;
    loop {
        let page = store
            .list_installs_page(&filter, after.as_ref(), PAGE)
            .await?;
        for s in page.items.iter().filter(|s| s.install.channel == r.channel) {
            count(&mut out, r, s);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

fn count(out: &mut RolloutWaves, r: &Rollout, s: &InstallSummary) {
    let seed = seed(&s.install.id);
    let Some(wave) = out.waves.iter_mut().find(|w| seed < limit(w.percent)) else {
        return;
    };
    wave.installs += 1;
    let Some(report) = &s.last_report else {
        wave.pending += u64::from(wave.opened);
        return;
    };
    let on_it = report.version.as_deref() == Some(r.version.as_str());
    let trying = report.target_version.as_deref() == Some(r.version.as_str());
    let failed = trying && report.status.starts_with("failed:");
    if !(on_it || trying) {
        wave.pending += u64::from(wave.opened);
        return;
    }
    wave.tried += 1;
    if on_it && report.status == "converged" {
        wave.succeeded += 1;
    }
    if failed {
        wave.failed += 1;
        if out.failing.len() < MAX_FAILING {
            out.failing.push(FailingHost {
                id: s.install.id.clone(),
                hostname: s.install.hostname.clone(),
                class: error_class(report.reason.as_deref(), &report.status),
            });
        }
    }
}

/// The reason's `code`, or the status when the reason has none.
pub(crate) fn error_class(reason: Option<&str>, status: &str) -> String {
    reason
        .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string))
        .unwrap_or_else(|| status.to_string())
}
