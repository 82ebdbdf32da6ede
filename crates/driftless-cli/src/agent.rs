//! `driftless agent`: the long-running mode. Syncs on the control plane's schedule,
//! backs off while it is unreachable or busy, and never stops the running app.
//!
//! The scheduling decision is [`next_delay`], a pure function; [`run`] only sleeps,
//! syncs, logs one line per sync (with the sync's `trace_id`, see [`crate::run_trace`])
//! and listens for SIGINT/SIGTERM.

use anyhow::{Context as _, Result};
use std::time::Duration;
use tokio::sync::watch;

use crate::progress::Progress;
use crate::state::StateDir;
use crate::sync::{ServerBusy, SyncOutcome};

/// Seconds between check-ins when the control plane has not said.
pub const DEFAULT_INTERVAL_S: u64 = 300;
/// First wait after the control plane became unreachable; doubles each time.
const BACKOFF_BASE_S: u64 = 5;
/// Never wait less than this, so a `0` from the server cannot make a hot loop.
const MIN_DELAY_MS: u64 = 1000;

/// Options of `driftless agent`.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// Stop after this many syncs (for tests); `None` runs until stopped.
    pub once_max: Option<u32>,
    /// The first sync waits a random 0..this many seconds, so hosts booted together spread out.
    pub initial_jitter_max_s: u64,
    /// Longest wait between attempts while the control plane is unreachable.
    pub backoff_cap_s: u64,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            once_max: None,
            initial_jitter_max_s: 30,
            backoff_cap_s: 600,
        }
    }
}

/// How a sync ended, as far as scheduling the next one is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncResultKind {
    /// The sync succeeded; the control plane may have said when to come back.
    Ok {
        /// The server's requested interval, in seconds.
        next_checkin_s: Option<u64>,
    },
    /// The control plane answered 429/503 with a `Retry-After`.
    ServerBusy {
        /// Seconds the server asked to wait.
        retry_after_s: u64,
    },
    /// Nothing answered at the control plane's URL.
    Unreachable,
    /// Anything else (Docker, verification, disk, ...).
    Failed,
}

impl SyncResultKind {
    /// Classifies a sync's result by the causes in its error chain.
    pub fn of(result: &Result<SyncOutcome>) -> Self {
        match result {
            Ok(out) => SyncResultKind::Ok {
                next_checkin_s: out.next_checkin_s,
            },
            Err(err) => Self::of_error(err),
        }
    }

    /// Classifies a failed sync: busy and unreachable are found anywhere in the chain.
    pub fn of_error(err: &anyhow::Error) -> Self {
        for cause in err.chain() {
            if let Some(busy) = cause.downcast_ref::<ServerBusy>() {
                return SyncResultKind::ServerBusy {
                    retry_after_s: busy.retry_after_s,
                };
            }
            if let Some(driftless_client::ClientError::Unreachable { .. }) = cause.downcast_ref() {
                return SyncResultKind::Unreachable;
            }
        }
        SyncResultKind::Failed
    }
}

/// The pure scheduling decision: how long to wait after a sync outcome.
///
/// `consecutive_failures` counts failed syncs in a row including this one;
/// `default_interval_s` is the normal interval (the server's last one, else 300 s);
/// `jitter` is a uniform sample in `[0, 1)`.
///
/// * success: the server's `next_checkin_s` (else the default) ±10 %;
/// * busy: at least `retry_after_s`, plus up to 10 %;
/// * unreachable: `5 s · 2^(n-1)` capped at `backoff_cap_s`, minus up to 20 %, so the
///   cap holds and hosts still spread out once they all reach it;
/// * any other failure: the normal interval ±10 %.
pub fn next_delay(
    outcome: &SyncResultKind,
    consecutive_failures: u32,
    default_interval_s: u64,
    backoff_cap_s: u64,
    jitter: f64,
) -> Duration {
    // NaN and out-of-range samples would otherwise break the bounds below.
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 0.999_999)
    } else {
        0.0
    };
    let ms = match outcome {
        SyncResultKind::Ok { next_checkin_s } => spread(
            next_checkin_s.unwrap_or(default_interval_s),
            0.9,
            0.2,
            jitter,
        ),
        SyncResultKind::ServerBusy { retry_after_s } => spread(*retry_after_s, 1.0, 0.1, jitter),
        SyncResultKind::Unreachable => {
            let doubling = 1u64
                .checked_shl(consecutive_failures.saturating_sub(1))
                .unwrap_or(u64::MAX);
            let backoff = BACKOFF_BASE_S.saturating_mul(doubling).min(backoff_cap_s);
            spread(backoff, 0.8, 0.2, jitter)
        }
        SyncResultKind::Failed => spread(default_interval_s, 0.9, 0.2, jitter),
    };
    Duration::from_millis(ms.max(MIN_DELAY_MS))
}

/// Spread of the wake-ups of hosts whose update window opens at the same time.
const WINDOW_SPREAD_S: u64 = 60;

/// `delay`, or less when an update window opens sooner: then its opening plus up to
/// [`WINDOW_SPREAD_S`] of jitter.
pub fn until_window(delay: Duration, opens_at: Option<i64>, now: i64, jitter: f64) -> Duration {
    let Some(wait_s) = opens_at.and_then(|t| u64::try_from(t - now).ok()) else {
        return delay;
    };
    let wake = Duration::from_millis(wait_s.saturating_mul(1000).saturating_add(spread(
        WINDOW_SPREAD_S,
        0.0,
        1.0,
        jitter.clamp(0.0, 1.0),
    )));
    delay.min(wake)
}

/// `seconds · (low + width · jitter)` in milliseconds, saturating instead of overflowing.
fn spread(seconds: u64, low: f64, width: f64, jitter: f64) -> u64 {
    // Float-to-int `as` saturates, so a huge Retry-After cannot wrap or panic.
    (seconds as f64 * 1000.0 * (low + width * jitter)) as u64
}

/// Arguments of `driftless agent`.
#[derive(clap::Args)]
pub struct AgentArgs {
    /// Wait a random time up to this many seconds before the first sync.
    #[arg(long, default_value_t = 30)]
    initial_jitter_secs: u64,
    /// Longest wait between attempts while the control plane is unreachable.
    #[arg(long, default_value_t = 600)]
    backoff_cap_secs: u64,
    /// Stop after this many syncs (for tests).
    #[arg(long, hide = true)]
    max_syncs: Option<u32>,
}

/// Runs `driftless agent` until it is stopped (or after `--max-syncs`).
pub async fn run_command(dir: &StateDir, args: AgentArgs) -> Result<()> {
    let opts = AgentOptions {
        once_max: args.max_syncs,
        initial_jitter_max_s: args.initial_jitter_secs,
        backoff_cap_s: args.backoff_cap_secs,
    };
    run(dir, &opts).await
}

/// Syncs on the control plane's schedule until stopped (SIGINT/SIGTERM ends it cleanly
/// between syncs, and during a sleep). A failed sync is logged and retried, never fatal.
pub async fn run(dir: &StateDir, opts: &AgentOptions) -> Result<()> {
    // Fail fast on a host that was never installed: nothing here could ever succeed.
    dir.load_config()?;
    let mut stop = listen_for_stop()?;
    let first = Duration::from_millis(spread(opts.initial_jitter_max_s, 0.0, 1.0, sample()));
    tracing::info!(
        "agent started for {}; first sync in {}",
        dir.root().display(),
        seconds(first)
    );
    if sleep_or_stop(first, &mut stop).await {
        tracing::info!("agent stopped");
        return Ok(());
    }
    let mut interval_s = DEFAULT_INTERVAL_S;
    let mut failures: u32 = 0;
    let mut syncs: u32 = 0;
    loop {
        if opts.once_max.is_some_and(|max| syncs >= max) {
            tracing::info!("agent stopped after {syncs} syncs");
            return Ok(());
        }
        let trace_id = crate::run_trace::begin();
        let result = crate::sync::sync(dir, Progress::detect()).await;
        syncs = syncs.saturating_add(1);
        let kind = SyncResultKind::of(&result);
        match &kind {
            SyncResultKind::Ok { next_checkin_s } => {
                failures = 0;
                if let Some(n) = next_checkin_s {
                    interval_s = *n;
                }
            }
            _ => failures = failures.saturating_add(1),
        }
        let delay = next_delay(&kind, failures, interval_s, opts.backoff_cap_s, sample());
        // A release waiting for an update window is applied when the window opens,
        // not at the first check-in after it.
        let waiting = dir.load_sync().waiting.filter(|_| result.is_ok());
        let opens_at = waiting.as_ref().and_then(|w| w.next_window_at);
        let delay = until_window(delay, opens_at, crate::policy::now().as_second(), sample());
        let last = opts.once_max.is_some_and(|max| syncs >= max);
        let line = sync_line(&result, waiting.as_ref(), delay, last);
        if result.is_ok() {
            tracing::info!(%trace_id, "{line}");
        } else {
            tracing::warn!(%trace_id, "{line}");
        }
        if *stop.borrow() || (!last && sleep_or_stop(delay, &mut stop).await) {
            tracing::info!("agent stopped");
            return Ok(());
        }
    }
}

/// The one line logged after a sync.
fn sync_line(
    result: &Result<SyncOutcome>,
    waiting: Option<&crate::policy::Waiting>,
    delay: Duration,
    last: bool,
) -> String {
    let what = match result {
        Ok(out) if waiting.is_some() => format!(
            "running {}; {}",
            out.version.as_deref().unwrap_or("nothing yet"),
            waiting.map_or(String::new(), |w| w
                .describe(&crate::policy::host_time_zone()))
        ),
        Ok(out) => match (&out.version, out.changed) {
            (Some(v), true) => format!("converged on {v}"),
            (Some(v), false) => format!("already converged on {v}"),
            (None, _) => out
                .message
                .clone()
                .unwrap_or_else(|| "nothing to run yet".into()),
        },
        // The agent logs one line per sync, so the hint goes on the same line.
        Err(err) => match driftless_exit::hint_of(err) {
            Some(hint) => format!("error: {} (hint: {hint})", driftless_exit::one_line(err)),
            None => format!("error: {}", driftless_exit::one_line(err)),
        },
    };
    if last {
        what
    } else {
        format!("{what}; next sync in {}", seconds(delay))
    }
}

/// A uniform sample in `[0, 1)`.
fn sample() -> f64 {
    // A fresh call each time: `ThreadRng` is not `Send` and must not live across an await.
    rand::random::<f64>()
}

/// Starts a task that flips the returned flag on the first SIGINT or SIGTERM and exits
/// at once on a second one (someone who asks twice does not want to wait for a pull).
fn listen_for_stop() -> Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    let mut signals = StopSignals::new()?;
    tokio::spawn(async move {
        signals.recv().await;
        let _ = tx.send(true);
        tracing::info!(
            "stop requested; a sync in progress finishes first (signal again to quit now)"
        );
        signals.recv().await;
        tracing::info!("agent stopped");
        std::process::exit(130);
    });
    Ok(rx)
}

/// Sleeps for `delay`; returns whether a stop was asked for (early, if so).
async fn sleep_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    let woken = tokio::select! {
        () = tokio::time::sleep(delay) => false,
        r = stop.wait_for(|stopped| *stopped) => r.is_ok(),
    };
    woken || *stop.borrow()
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere).
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn new() -> Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `delay` as whole seconds, rounded up, e.g. `297s`.
fn seconds(delay: Duration) -> String {
    let ms = delay.as_millis();
    format!("{}s", ms.div_ceil(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOW: f64 = 0.0;
    const HIGH: f64 = 0.999;

    #[test]
    fn a_window_opening_before_the_next_check_in_wakes_the_agent_at_it() {
        let hour = Duration::from_secs(3600);
        let now = 1_000_000;
        // Opens in 10 minutes: wake then, plus at most a minute.
        let wake = until_window(hour, Some(now + 600), now, HIGH);
        assert!(
            wake >= Duration::from_secs(600) && wake <= Duration::from_secs(660),
            "{wake:?}"
        );
        assert_eq!(
            until_window(hour, Some(now + 600), now, LOW),
            Duration::from_secs(600)
        );
        // Opens after the next check-in, already opened, or no window: unchanged.
        assert_eq!(until_window(hour, Some(now + 7200), now, LOW), hour);
        assert_eq!(until_window(hour, Some(now - 5), now, LOW), hour);
        assert_eq!(until_window(hour, None, now, LOW), hour);
    }

    fn ok(next: Option<u64>) -> SyncResultKind {
        SyncResultKind::Ok {
            next_checkin_s: next,
        }
    }

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    #[test]
    fn success_waits_the_servers_interval_within_ten_percent() {
        let low = secs(next_delay(&ok(Some(120)), 0, 300, 600, LOW));
        let high = secs(next_delay(&ok(Some(120)), 0, 300, 600, HIGH));
        assert!((108.0..=108.001).contains(&low), "{low}");
        assert!((131.8..132.0).contains(&high), "{high}");
    }

    #[test]
    fn success_without_an_interval_waits_the_default() {
        let low = secs(next_delay(&ok(None), 0, 300, 600, LOW));
        let high = secs(next_delay(&ok(None), 0, 300, 600, HIGH));
        assert!((270.0..=270.001).contains(&low), "{low}");
        assert!((329.0..330.0).contains(&high), "{high}");
    }

    #[test]
    fn retry_after_is_honoured_and_never_shortened() {
        let busy = SyncResultKind::ServerBusy { retry_after_s: 90 };
        let low = secs(next_delay(&busy, 3, 300, 600, LOW));
        let high = secs(next_delay(&busy, 3, 300, 600, HIGH));
        assert!(low >= 90.0, "{low}");
        assert!(high < 99.0 && high > 98.9, "{high}");
    }

    #[test]
    fn retry_after_longer_than_the_backoff_cap_is_still_honoured() {
        let busy = SyncResultKind::ServerBusy {
            retry_after_s: 3600,
        };
        assert!(next_delay(&busy, 1, 300, 600, LOW) >= Duration::from_secs(3600));
    }

    #[test]
    fn unreachable_backs_off_exponentially() {
        let at = |n| secs(next_delay(&SyncResultKind::Unreachable, n, 300, 600, HIGH));
        let waits: Vec<f64> = (1..=6).map(at).collect();
        for pair in waits.windows(2) {
            assert!(pair[1] > pair[0] * 1.9, "{waits:?}");
        }
        assert!((4.99..5.0).contains(&waits[0]), "{waits:?}");
        let first_low = secs(next_delay(&SyncResultKind::Unreachable, 1, 300, 600, LOW));
        assert!((4.0..=4.001).contains(&first_low), "{first_low}");
    }

    #[test]
    fn unreachable_backoff_respects_the_cap() {
        for n in [8, 10, 31, 32, 63, 64, 1000, u32::MAX] {
            for j in [LOW, 0.5, HIGH] {
                let d = next_delay(&SyncResultKind::Unreachable, n, 300, 600, j);
                assert!(d <= Duration::from_secs(600), "n={n} j={j}: {d:?}");
                assert!(d >= Duration::from_secs(480), "n={n} j={j}: {d:?}");
            }
        }
        let small_cap = next_delay(&SyncResultKind::Unreachable, 20, 300, 60, HIGH);
        assert!(small_cap <= Duration::from_secs(60), "{small_cap:?}");
    }

    #[test]
    fn other_failures_retry_at_the_normal_interval() {
        let low = secs(next_delay(&SyncResultKind::Failed, 4, 120, 600, LOW));
        let high = secs(next_delay(&SyncResultKind::Failed, 4, 120, 600, HIGH));
        assert!((108.0..=108.001).contains(&low), "{low}");
        assert!((131.8..132.0).contains(&high), "{high}");
    }

    #[test]
    fn a_zero_interval_does_not_make_a_hot_loop() {
        assert!(next_delay(&ok(Some(0)), 0, 300, 600, LOW) >= Duration::from_secs(1));
        let cap0 = next_delay(&SyncResultKind::Unreachable, 1, 300, 0, LOW);
        assert!(cap0 >= Duration::from_secs(1));
    }

    #[test]
    fn bad_jitter_samples_stay_in_bounds() {
        for j in [f64::NAN, -1.0, 1.0, 7.0, f64::INFINITY] {
            let d = secs(next_delay(&ok(Some(100)), 0, 300, 600, j));
            assert!((90.0..110.0).contains(&d), "j={j}: {d}");
        }
    }

    #[test]
    fn huge_intervals_saturate_instead_of_panicking() {
        let busy = SyncResultKind::ServerBusy {
            retry_after_s: u64::MAX,
        };
        assert!(next_delay(&busy, 1, 300, 600, HIGH) > Duration::from_secs(1 << 40));
        assert!(next_delay(&ok(Some(u64::MAX)), 0, 300, 600, HIGH) > Duration::from_secs(1 << 40));
    }

    #[test]
    fn errors_are_classified_by_their_cause_chain() {
        let busy = anyhow::Error::new(ServerBusy { retry_after_s: 7 }).context("sync failed");
        assert_eq!(
            SyncResultKind::of_error(&busy),
            SyncResultKind::ServerBusy { retry_after_s: 7 }
        );
        // Sync attaches its "try again" hint as context; the cause is still found.
        let hinted = driftless_exit::HintExt::hint(
            Err::<(), _>(ServerBusy { retry_after_s: 7 }),
            "try again in 7s",
        )
        .expect_err("an error");
        assert_eq!(
            SyncResultKind::of_error(&hinted),
            SyncResultKind::ServerBusy { retry_after_s: 7 }
        );
        let down = anyhow::Error::new(driftless_client::ClientError::Unreachable {
            url: "http://127.0.0.1:9/v1/checkin".into(),
            reason: "connection refused".into(),
        })
        .context("check-in failed");
        assert_eq!(SyncResultKind::of_error(&down), SyncResultKind::Unreachable);
        let other = anyhow::anyhow!("docker is not running");
        assert_eq!(SyncResultKind::of_error(&other), SyncResultKind::Failed);
    }

    #[tokio::test]
    async fn an_uninstalled_host_fails_at_once_with_the_install_hint() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = StateDir::new(tmp.path());
        let opts = AgentOptions {
            once_max: Some(1),
            initial_jitter_max_s: 3600,
            ..AgentOptions::default()
        };
        let started = std::time::Instant::now();
        let err = run(&dir, &opts).await.expect_err("no install, so no agent");
        assert!(started.elapsed() < Duration::from_secs(5));
        let shown = driftless_exit::render(&err);
        assert!(
            shown.contains("hint: run `driftless install` first"),
            "{shown}"
        );
    }

    #[test]
    fn delays_print_as_whole_seconds_rounded_up() {
        assert_eq!(seconds(Duration::from_millis(296_100)), "297s");
        assert_eq!(seconds(Duration::from_secs(5)), "5s");
    }
}
