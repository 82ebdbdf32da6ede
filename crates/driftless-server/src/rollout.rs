//! Staged rollouts: each install's stable seed, which seeds a wave opens, which release
//! an install is assigned, and the background ticker that opens waves on schedule and
//! halts a rollout whose failure rate passes its threshold.
//!
//! Every change to a rollout (the ticker's and the operator's) is one store update
//! made from the rollout as read, saved only if nobody changed it since: the rollout
//! row, the channel switch it implies and its audit entry commit together or not at
//! all, so an abort racing a wave tick leaves the channel where the abort put it.

use driftless_store::{
    AuditEvent, CheckinView, ReleaseRef, ReleaseState, Rollout, RolloutOutcomes, RolloutState,
    RolloutUpdate, StoreError, StoreResult,
};
use driftless_wire::status::{Reason, ReasonCode};
use sha2::{Digest as _, Sha256};
use std::time::Duration;

use crate::state::AppState;

/// Seeds run over `0..SEED_SPACE`.
pub const SEED_SPACE: u32 = 2048;

/// An install's stable seed in `0..2048`, derived from its id.
pub fn seed(install_id: &str) -> u32 {
    let h = Sha256::digest(install_id.as_bytes());
    u32::from(u16::from_be_bytes([h[0], h[1]])) % SEED_SPACE
}

/// Installs with a seed below this are in the rollout's opened waves.
pub fn seed_limit(rollout: &Rollout) -> u32 {
    let pct = rollout
        .waves
        .get(rollout.wave_index as usize)
        .copied()
        .unwrap_or(100)
        .min(100);
    // Round up, so a 1% wave of a small fleet still opens for someone.
    (pct * SEED_SPACE).div_ceil(100)
}

/// Whether an install running `running` follows `rollout`: its wave is open, or, once
/// the rollout halted, only if it already runs the rollout's release (it stays there
/// until an abort sends it back or a resume goes on).
pub fn follows(rollout: &Rollout, install_id: &str, running: Option<&str>) -> bool {
    match rollout.state {
        RolloutState::Halted => running == Some(rollout.version.as_str()),
        _ => seed(install_id) < seed_limit(rollout),
    }
}

/// Why an install that does not follow `rollout` keeps its channel's release.
pub fn held_off(rollout: &Rollout) -> Reason {
    let detail = if rollout.state == RolloutState::Halted {
        format!(
            "the rollout of {} on `{}` is halted ({}); installs that have not applied it stay on the channel's release until it is resumed",
            rollout.version,
            rollout.channel,
            rollout.reason.as_deref().unwrap_or("no reason recorded")
        )
    } else {
        format!(
            "{} is rolling out on `{}` ({}, wave {} of {}); this install's wave has not opened",
            rollout.version,
            rollout.channel,
            rollout.state.name(),
            rollout.wave_index + 1,
            rollout.waves.len()
        )
    };
    // Old CLIs parse only the codes they know: a halted rollout is, for the host, one
    // whose next wave does not open.
    Reason {
        code: ReasonCode::WaitingForWave,
        detail,
        check: None,
    }
}

/// What a check-in should assign, and a note when it is held back.
pub struct Desired {
    /// The release to assign.
    pub release: ReleaseRef,
    /// A warning about the assigned release (deprecated, or its rollout halted).
    pub note: Option<String>,
    /// Why the install is not getting a newer release yet.
    pub pending: Option<Reason>,
}

/// The release an install that runs `running` is assigned: the rollout's when the
/// install follows it (see [`follows`]), otherwise its channel's.
pub fn desired(view: &CheckinView, running: Option<&str>) -> Option<Desired> {
    let channel = ChannelView {
        name: &view.install.channel,
        release: view.channel_release.as_ref(),
        rollout: view.rollout.as_ref(),
    };
    desired_on(&channel, &view.install.id, running)
}

/// What a check-in reads of an install's channel.
pub struct ChannelView<'a> {
    /// The channel's name.
    pub name: &'a str,
    /// The release it points at.
    pub release: Option<&'a ReleaseRef>,
    /// Its active rollout, with the release it rolls out.
    pub rollout: Option<&'a (Rollout, ReleaseRef)>,
}

/// [`desired`] from the channel's parts, for callers that keep them apart from the
/// install (the check-in cache).
pub fn desired_on(
    channel: &ChannelView<'_>,
    install_id: &str,
    running: Option<&str>,
) -> Option<Desired> {
    let base = channel.release.cloned();
    if let Some((rollout, release)) = channel.rollout {
        let assignable = release.state != ReleaseState::Yanked;
        if assignable && follows(rollout, install_id, running) {
            let note = (rollout.state == RolloutState::Halted).then(|| {
                format!(
                    "the rollout of {} on `{}` is halted; this install stays on it until your vendor resumes or aborts it",
                    release.version, channel.name
                )
            });
            return Some(Desired {
                release: release.clone(),
                note,
                pending: None,
            });
        }
        return base.map(|b| Desired {
            release: b,
            note: None,
            pending: Some(held_off(rollout)),
        });
    }
    let b = base?;
    let note = (b.state == ReleaseState::Deprecated).then(|| {
        format!(
            "release {} is deprecated; your vendor will publish a replacement",
            b.version
        )
    });
    Some(Desired {
        release: b,
        note,
        pending: None,
    })
}

/// What the ticker should do with a running rollout now.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing yet.
    Wait,
    /// Stop it: too many failures.
    Halt(String),
    /// Open the next wave.
    Advance,
    /// Every wave is open and its interval passed: point the channel at the release.
    Complete,
}

/// Decides the next step of a running rollout.
pub fn next_step(r: &Rollout, outcomes: RolloutOutcomes, now: i64) -> Step {
    let failed_pct_x100 = outcomes.failed * 100;
    if outcomes.failed >= u64::from(r.min_failures.max(1))
        && failed_pct_x100 > u64::from(r.max_failure_pct) * outcomes.tried.max(1)
    {
        return Step::Halt(format!(
            "{} of {} installs that tried {} failed (threshold: at least {} and over {}%)",
            outcomes.failed, outcomes.tried, r.version, r.min_failures, r.max_failure_pct
        ));
    }
    let Some(interval) = r.interval_s else {
        return Step::Wait;
    };
    if now - r.wave_started_at < interval {
        return Step::Wait;
    }
    if (r.wave_index as usize) + 1 >= r.waves.len() {
        Step::Complete
    } else {
        Step::Advance
    }
}

/// The audit entry of a rollout change.
pub fn audit_event(
    r: &Rollout,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        at: r.updated_at,
        actor: actor.to_string(),
        action: action.to_string(),
        subject: format!("{}/{}@{}", r.app, r.channel, r.version),
        detail: detail.to_string(),
        request_id: crate::request_context::current_request_id(),
    }
}

/// The store update `step` makes to `r` as read (with the channel switch, on
/// completion), or `None` for [`Step::Wait`].
pub fn step_update(mut r: Rollout, step: Step, actor: &str, now: i64) -> Option<RolloutUpdate> {
    let mut channel_release = None;
    let action = match step {
        Step::Wait => return None,
        Step::Halt(why) => {
            r.state = RolloutState::Halted;
            r.reason = Some(why);
            "rollout.halt"
        }
        Step::Advance => {
            r.wave_index += 1;
            r.wave_started_at = now;
            "rollout.advance"
        }
        Step::Complete => {
            channel_release = Some(r.version.clone());
            r.wave_index = r.waves.len().saturating_sub(1) as u32;
            r.state = RolloutState::Completed;
            "rollout.complete"
        }
    };
    r.updated_at = now;
    let detail = serde_json::json!({ "wave_index": r.wave_index, "reason": r.reason });
    let audit = Some(audit_event(&r, actor, action, detail));
    Some(RolloutUpdate {
        rollout: r,
        channel_release,
        audit,
    })
}

/// Applies `step` to `r` as read: one store update of the rollout, its channel (on
/// completion) and its audit entry; `Stale` if the rollout changed since it was read.
pub async fn apply_step(
    state: &AppState,
    r: Rollout,
    step: Step,
    actor: &str,
    now: i64,
) -> StoreResult<Rollout> {
    let Some(update) = step_update(r.clone(), step, actor, now) else {
        return Ok(r);
    };
    let saved = state.store.update_rollout(&update).await?;
    crate::webhooks::rollout_changed(state, &update, &saved).await;
    let action = update.audit.as_ref().map_or("", |a| a.action.as_str());
    tracing::info!(app = %saved.app, channel = %saved.channel, version = %saved.version, action, "rollout step");
    Ok(saved)
}

/// One pass over every running rollout. A rollout whose step fails is logged and left
/// for the next pass; the others go on. Returns how many failed (a rollout that
/// changed under the pass is not a failure: it is read again next time).
pub async fn tick(state: &AppState, now: i64) -> StoreResult<usize> {
    let mut failed = 0;
    for r in state.store.running_rollouts().await? {
        let (id, app, channel) = (r.id, r.app.clone(), r.channel.clone());
        match tick_one(state, r, now).await {
            Ok(_) => {}
            Err(StoreError::Stale { what }) => {
                tracing::info!(rollout = id, %app, %channel, "{what} changed during the tick; it is read again next tick");
            }
            Err(e) => {
                failed += 1;
                tracing::warn!(rollout = id, %app, %channel, error = %e, "rollout tick failed; the other rollouts go on");
            }
        }
    }
    Ok(failed)
}

/// Decides and applies the next step of one running rollout.
async fn tick_one(state: &AppState, r: Rollout, now: i64) -> StoreResult<Rollout> {
    let outcomes = state
        .store
        .rollout_outcomes(&r.app, &r.channel, &r.version)
        .await?;
    let step = next_step(&r, outcomes, now);
    apply_step(state, r, step, "system", now).await
}

/// The lease that makes one replica at a time run the ticker.
pub const TICKER_LEASE: &str = "rollout-ticker";

/// How many ticks a ticker's lease outlives its last renewal: a replica that dies
/// (SIGKILL) is replaced by another within this many ticks plus one.
pub const LEASE_TICKS: u32 = 3;

/// Runs [`tick`] every `every` until the process ends, on one replica at a time: each
/// pass first takes or renews the [`TICKER_LEASE`] (good for [`LEASE_TICKS`] ticks),
/// and a replica that does not hold it skips the pass. A stale holder cannot apply a
/// step twice: every rollout update is a compare-and-set on its revision.
pub fn spawn_ticker(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    let holder = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let ttl_ms = i64::try_from((every * LEASE_TICKS).as_millis()).unwrap_or(i64::MAX);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leading = false;
        loop {
            interval.tick().await;
            let held = match state
                .store
                .try_lease(TICKER_LEASE, &holder, now_ms(), ttl_ms)
                .await
            {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take the rollout ticker's lease; skipping this tick");
                    false
                }
            };
            if held != leading {
                tracing::info!(%holder, leading = held, "rollout ticker lease {}", if held { "taken" } else { "lost" });
                leading = held;
            }
            if !held {
                continue;
            }
            if let Err(e) = tick(&state, crate::now()).await {
                tracing::warn!(error = %e, "rollout tick could not list the running rollouts");
            }
        }
    })
}

/// Unix milliseconds now.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(waves: Vec<u32>, wave_index: u32) -> Rollout {
        Rollout {
            id: 1,
            app: "a".into(),
            channel: "stable".into(),
            version: "2.0.0".into(),
            previous_version: Some("1.0.0".into()),
            waves,
            wave_index,
            wave_started_at: 1000,
            interval_s: Some(60),
            state: RolloutState::Running,
            min_failures: 3,
            max_failure_pct: 20,
            reason: None,
            created_at: 1000,
            updated_at: 1000,
            revision: 0,
        }
    }

    #[test]
    fn seeds_are_stable_and_spread_over_the_space() {
        assert_eq!(seed("ins_a"), seed("ins_a"));
        let seeds: Vec<u32> = (0..2000).map(|i| seed(&format!("ins_{i}"))).collect();
        assert!(seeds.iter().all(|s| *s < SEED_SPACE));
        let low = seeds.iter().filter(|s| **s < SEED_SPACE / 2).count();
        assert!(
            (800..1200).contains(&low),
            "{low} of 2000 in the lower half"
        );
    }

    #[test]
    fn wave_limits_are_cumulative_percentages_rounded_up() {
        assert_eq!(seed_limit(&rollout(vec![1, 10, 50, 100], 0)), 21);
        assert_eq!(seed_limit(&rollout(vec![1, 10, 50, 100], 2)), 1024);
        assert_eq!(seed_limit(&rollout(vec![1, 10, 50, 100], 3)), SEED_SPACE);
    }

    #[test]
    fn a_halted_rollout_is_followed_only_by_installs_that_run_its_release() {
        let ids: Vec<String> = (0..200).map(|i| format!("ins_{i}")).collect();
        let opened = rollout(vec![50, 100], 0);
        let inside = ids
            .iter()
            .find(|id| seed(id) < seed_limit(&opened))
            .unwrap();
        let outside = ids
            .iter()
            .find(|id| seed(id) >= seed_limit(&opened))
            .unwrap();
        assert!(follows(&opened, inside, Some("1.0.0")));
        assert!(!follows(&opened, outside, Some("2.0.0")));
        let halted = Rollout {
            state: RolloutState::Halted,
            ..opened.clone()
        };
        for id in [inside, outside] {
            assert!(follows(&halted, id, Some("2.0.0")), "{id} runs it: stays");
            assert!(!follows(&halted, id, Some("1.0.0")), "{id} does not run it");
            assert!(!follows(&halted, id, None), "{id} runs nothing yet");
        }
        let paused = Rollout {
            state: RolloutState::Paused,
            ..opened
        };
        assert!(
            follows(&paused, inside, None),
            "a pause keeps opened waves open"
        );
        assert!(held_off(&halted).detail.contains("halted"));
    }

    #[test]
    fn halts_only_past_both_thresholds() {
        let r = rollout(vec![10, 100], 0);
        let at = |tried, failed| {
            next_step(
                &r,
                RolloutOutcomes {
                    tried,
                    failed,
                    converged: 0,
                },
                1010,
            )
        };
        assert_eq!(
            at(4, 2),
            Step::Wait,
            "two failures are under the minimum of three"
        );
        assert_eq!(at(20, 3), Step::Wait, "15% is under 20%");
        assert!(matches!(at(10, 3), Step::Halt(_)), "3 of 10 is 30%");
    }

    #[test]
    fn advances_on_schedule_and_completes_after_the_last_wave() {
        let r = rollout(vec![10, 100], 0);
        assert_eq!(next_step(&r, RolloutOutcomes::default(), 1059), Step::Wait);
        assert_eq!(
            next_step(&r, RolloutOutcomes::default(), 1060),
            Step::Advance
        );
        let last = rollout(vec![10, 100], 1);
        assert_eq!(
            next_step(&last, RolloutOutcomes::default(), 1060),
            Step::Complete
        );
        let manual = Rollout {
            interval_s: None,
            ..rollout(vec![10, 100], 0)
        };
        assert_eq!(
            next_step(&manual, RolloutOutcomes::default(), 999_999),
            Step::Wait
        );
    }
}
