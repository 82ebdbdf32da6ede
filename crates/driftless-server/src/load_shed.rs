//! Load shedding: a request is answered `503` with `Retry-After` at once instead of
//! waiting its turn, so the requests already accepted keep their latency and clients
//! back off, in two cases:
//!
//! * past `ServerConfig::max_in_flight` requests in flight ([`InFlight`]);
//! * while the server runs late ([`QueueDelay`]): requests that are answered from memory
//!   never wait inside the server, so on a saturated core the queue forms in the
//!   kernel's socket buffers, where the in-flight count cannot see it. How long a
//!   request waits there is how long every task waits for its turn on the runtime, which
//!   a probe measures: how long a task made ready waits for its turn. When that
//!   lateness stays above `ServerConfig::max_queue_delay_ms` for [`SUSTAINED`], with
//!   requests arriving all the while ([`MIN_ARRIVALS`] or more per measurement), a
//!   share of the hosts' requests is shed, adjusted after every measurement, until it
//!   is back under a quarter of the limit (CoDel's rule, RFC 8289, for when to start,
//!   applied to a server's queue; see [`ShedRule`] for how much). Only hosts' requests are shed:
//!   hosts back off and retry on their own, while a vendor's command (halting a
//!   rollout, say) must get through an overload. A process starved of CPU with a
//!   handful of requests is late too, but has no queue to shed: the arrivals tell the
//!   two apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::error::ApiError;

/// Seconds a shed client is asked to wait; the agent adds its own jitter.
pub const RETRY_AFTER_S: u64 = 1;

/// The in-flight budget shared by every request of one router.
#[derive(Clone)]
pub(crate) struct InFlight {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl InFlight {
    /// A budget of `limit` requests; `None` for 0 (no limit).
    pub(crate) fn new(limit: usize) -> Option<Self> {
        (limit > 0).then(|| InFlight {
            permits: Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS))),
            limit,
        })
    }

    /// A slot, held until the request is answered; `None` when all are taken.
    pub(crate) fn try_acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// The number of requests served at once.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

/// How often the probe measures the runtime's lateness while requests arrive.
const PROBE_EVERY: Duration = Duration::from_millis(5);

/// How much later than asked the runtime's timers may fire when nothing delays them.
const TIMER_GRANULARITY: Duration = Duration::from_millis(1);

/// How long the lateness must stay above the limit before requests are shed: a burst
/// shorter than this is absorbed by the queue, as it should be.
const SUSTAINED: Duration = Duration::from_millis(100);

/// Requests that must arrive during one measurement for its lateness to count as a
/// queue's.
const MIN_ARRIVALS: u64 = 16;

/// After shedding stopped, lateness above the limit again within this long sheds at
/// once: the overload it answered is most likely still there (CoDel's memory).
const REMEMBERED: Duration = Duration::from_secs(10);

/// Once shedding, how far under the limit it brings the lateness: to the limit divided
/// by this. Starting needs the limit passed for [`SUSTAINED`], which a saturated core
/// serving a fixed set of clients does not (its queue stands, but no deeper than its
/// clients); an overload passes it at once, and is then shed down to well under it,
/// so the requests it accepts wait about as long as they would unloaded.
const TARGET_DIVISOR: u32 = 4;

/// The largest share shed: one host request in this many. Never every one, so the
/// hosts that are served keep the server busy while the shed ones are away.
const MOST: u64 = 2;

/// The queueing-delay budget shared by every request of one router, and what its probe
/// last measured.
#[derive(Debug)]
pub(crate) struct QueueDelay {
    limit: Duration,
    /// One host request in this many is shed; 0 sheds none.
    shed_one_in: AtomicU64,
    /// Host requests seen while shedding, to pick every `shed_one_in`-th.
    host_requests: AtomicU64,
    /// Requests that arrived since the probe last looked; the probe sleeps while none
    /// does, so an idle server is not woken 200 times a second.
    arrivals: AtomicU64,
    wake: Notify,
    /// The lateness the probe measured last (0 while idle), as `/metrics` serves it.
    last: Gauge<f64, AtomicU64>,
}

impl QueueDelay {
    /// A budget of `limit_ms` milliseconds of lateness; 0 sheds nothing on delay. The
    /// probe's measurements go to `gauge`.
    pub(crate) fn new(limit_ms: u64, gauge: Gauge<f64, AtomicU64>) -> Self {
        QueueDelay {
            limit: Duration::from_millis(limit_ms),
            shed_one_in: AtomicU64::new(0),
            host_requests: AtomicU64::new(0),
            arrivals: AtomicU64::new(0),
            wake: Notify::new(),
            last: gauge,
        }
    }

    /// Counts a request's arrival for the probe (every route's).
    pub(crate) fn arrived(&self) {
        if self.limit.is_zero() {
            return;
        }
        if self.arrivals.fetch_add(1, Ordering::Relaxed) == 0 {
            // The first since the probe looked: it may be asleep.
            self.wake.notify_one();
        }
    }

    /// Whether to shed a host's request arriving now, and why.
    pub(crate) fn sheds(&self) -> Option<Shed> {
        let one_in = self.shed_one_in.load(Ordering::Relaxed);
        if one_in == 0
            || !self
                .host_requests
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(one_in)
        {
            return None;
        }
        Some(Shed::Late {
            late: Duration::from_secs_f64(self.last.get().max(0.0)),
            limit_ms: self.limit.as_millis(),
        })
    }
}

/// Measures the runtime's lateness for `queue` until aborted; nothing when its limit is 0.
/// Runs on the runtime it measures: its timer fires only when the tasks queued ahead
/// of it have had their turn.
pub(crate) fn spawn_probe(queue: Arc<QueueDelay>) -> Option<tokio::task::JoinHandle<()>> {
    if queue.limit.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut rule = ShedRule::new(queue.limit);
        loop {
            let due = Instant::now() + PROBE_EVERY;
            tokio::time::sleep_until(due).await;
            let woke = Instant::now();
            // A task a timer wakes may run next, ahead of the tasks already waiting
            // (the runtime's LIFO slot); going to the back of the queue measures the
            // wait of a connection that just became readable.
            to_the_back().await;
            let now = Instant::now();
            // The timer's own lateness counts past its granularity (it rounds up to
            // whole milliseconds): the runtime did not look at its timers and sockets.
            let late = now.saturating_duration_since(woke)
                + woke
                    .saturating_duration_since(due)
                    .saturating_sub(TIMER_GRANULARITY);
            let arrived = queue.arrivals.swap(0, Ordering::Relaxed);
            queue.last.set(late.as_secs_f64());
            let one_in = rule.observe(late, arrived, now);
            let before = queue.shed_one_in.swap(one_in, Ordering::Relaxed);
            if (before == 0) != (one_in == 0) {
                tracing::warn!(
                    late_ms = late.as_millis() as u64,
                    limit_ms = queue.limit.as_millis() as u64,
                    "{}",
                    if one_in > 0 {
                        "running late: shedding hosts' requests with 503 + Retry-After"
                    } else {
                        "back under the queueing-delay limit: serving every request"
                    }
                );
            }
            if arrived == 0 {
                // No request since the last look: nothing queued, nothing to measure
                // until one arrives.
                queue.last.set(0.0);
                queue.wake.notified().await;
            }
        }
    }))
}

/// Puts the calling task at the back of its runtime's run queue, ready: a task that
/// wakes itself while it runs is queued behind every task already waiting. (Unlike
/// `yield_now`, which waits for the runtime's next poll of its timers and I/O first.)
async fn to_the_back() {
    let mut queued = false;
    std::future::poll_fn(|cx| {
        if queued {
            return std::task::Poll::Ready(());
        }
        queued = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

/// How much to shed, from a series of lateness measurements: nothing until the
/// lateness has stood above the limit for [`SUSTAINED`], then, after each late
/// measurement, the part of the next measurement's arrivals that the lateness exceeds
/// the target (the limit over [`TARGET_DIVISOR`]) by: a queue 3 ms over the target,
/// measured over 10 ms, sheds one host request in 3 (at most one in [`MOST`]), and
/// nothing once a measurement is within the target. Less than [`REMEMBERED`] after
/// that, a measurement over the target sheds again at once: the overload it answered
/// is most likely back, and waiting for the limit would let every accepted request
/// wait that long first. Each shed host stays away for
/// `Retry-After`, so what the server takes on falls at once by what it sheds: shedding
/// the excess brings the queue back to the limit without sending away hosts it could
/// serve (shedding every request that arrived while it was late sent most hosts away
/// at once and left the server idle until they all came back).
#[derive(Debug)]
struct ShedRule {
    limit: Duration,
    /// What shedding brings the lateness down to.
    target: Duration,
    /// Since when every measurement was above the limit.
    above_since: Option<Instant>,
    /// When shedding last stopped.
    stopped_at: Option<Instant>,
    /// One host request in this many is shed; 0 while not shedding.
    one_in: u64,
}

impl ShedRule {
    fn new(limit: Duration) -> Self {
        ShedRule {
            limit,
            target: limit / TARGET_DIVISOR,
            above_since: None,
            stopped_at: None,
            one_in: 0,
        }
    }

    /// The share to shed (one request in what comes back; 0 for none) after measuring
    /// `late` at `now`, with `arrived` requests arriving during the measurement.
    fn observe(&mut self, late: Duration, arrived: u64, now: Instant) -> u64 {
        let remembered = self
            .stopped_at
            .is_some_and(|stopped| now.saturating_duration_since(stopped) < REMEMBERED);
        let bound = if self.one_in > 0 || remembered {
            self.target
        } else {
            self.limit
        };
        if late <= bound || arrived < MIN_ARRIVALS {
            self.above_since = None;
            if self.one_in > 0 {
                self.one_in = 0;
                self.stopped_at = Some(now);
            }
            return 0;
        }
        let since = *self.above_since.get_or_insert(now);
        if self.one_in > 0 || remembered || now.saturating_duration_since(since) >= SUSTAINED {
            self.one_in = self.share(late);
        }
        self.one_in
    }

    /// One in how many requests is the excess of `late` over the limit, of a
    /// measurement's arrivals (a measurement lasts [`PROBE_EVERY`] plus the lateness).
    fn share(&self, late: Duration) -> u64 {
        let excess = late.saturating_sub(self.target).as_micros().max(1);
        let period = (PROBE_EVERY + late).as_micros();
        u64::try_from(period.div_ceil(excess))
            .unwrap_or(u64::MAX)
            .max(MOST)
    }
}

/// Why a request was shed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shed {
    /// The router serves its limit of this many requests at once.
    InFlight(usize),
    /// The server ran this late, past its limit of so many milliseconds.
    Late { late: Duration, limit_ms: u128 },
}

/// The `503 overloaded` answer to a request shed for `why`.
pub(crate) fn overloaded(why: Shed) -> Response {
    let message = match why {
        Shed::InFlight(limit) => {
            format!("the control plane is serving its limit of {limit} requests at once")
        }
        Shed::Late { late, limit_ms } => format!(
            "the control plane is running {} ms behind, past its limit of {limit_ms} ms \
             (max_queue_delay_ms)",
            late.as_millis()
        ),
    };
    let error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
        .with_hint(format!("retry after {RETRY_AFTER_S}s (Retry-After)"));
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shedding brings the lateness down to a quarter of it: 3 ms.
    const LIMIT: Duration = Duration::from_millis(12);
    /// Over the limit: 10 ms over the target, measured over 18 ms: as much as is ever
    /// shed, one in two.
    const LATE: Duration = Duration::from_millis(13);
    /// Under the limit, over the target: 3 ms over, measured over 11 ms: one in 4.
    const HIGH: Duration = Duration::from_millis(6);
    const HIGH_SHARE: u64 = 4;
    const ON_TIME: Duration = Duration::from_millis(1);
    const BUSY: u64 = MIN_ARRIVALS;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_shorter_than_sustained_is_absorbed() {
        let t = Instant::now();
        let mut rule = ShedRule::new(LIMIT);
        assert_eq!(rule.observe(LATE, BUSY, t), 0);
        assert_eq!(rule.observe(LATE, BUSY, t + ms(50)), 0);
        assert_eq!(rule.observe(ON_TIME, BUSY, t + ms(60)), 0);
        // The streak starts again after a measurement under the limit.
        assert_eq!(rule.observe(LATE, BUSY, t + ms(100)), 0);
        assert_eq!(rule.observe(LATE, BUSY, t + ms(199)), 0);
        assert_eq!(rule.observe(LATE, BUSY, t + ms(200)), MOST);
    }

    #[test]
    fn a_queue_that_stands_under_the_limit_is_never_shed() {
        // A saturated core serving a fixed set of clients: its queue stands, no deeper
        // than its clients, under the limit.
        let t = Instant::now();
        let mut rule = ShedRule::new(LIMIT);
        for step in 0..100 {
            assert_eq!(rule.observe(HIGH, BUSY, t + ms(10 * step)), 0);
        }
    }

    #[test]
    fn once_shedding_the_share_is_the_excess_over_the_target_until_on_time() {
        let t = Instant::now();
        let mut rule = ShedRule::new(LIMIT);
        rule.observe(LATE, BUSY, t);
        assert_eq!(rule.observe(LATE, BUSY, t + SUSTAINED), MOST);
        // Under the limit but over the target: still shedding, less.
        assert_eq!(rule.observe(HIGH, BUSY, t + ms(120)), HIGH_SHARE);
        // Barely over the target: a small share (9 ms measured, 1 ms over).
        assert_eq!(rule.observe(ms(4), BUSY, t + ms(130)), 9);
        // Far over: at most one in two.
        assert_eq!(rule.observe(ms(400), BUSY, t + ms(600)), MOST);
        // Exactly at the target is on time.
        assert_eq!(rule.observe(LIMIT / TARGET_DIVISOR, BUSY, t + ms(620)), 0);
        assert_eq!(rule.stopped_at, Some(t + ms(620)));
    }

    #[test]
    fn late_again_soon_after_sheds_at_once_and_long_after_waits_for_a_streak() {
        let t = Instant::now();
        let mut rule = ShedRule::new(LIMIT);
        rule.observe(LATE, BUSY, t);
        assert_eq!(rule.observe(LATE, BUSY, t + SUSTAINED), MOST);
        // Stops at once when no request arrives.
        assert_eq!(rule.observe(LATE, 0, t + ms(110)), 0);
        // Over the target again soon after: the overload is most likely still there.
        assert_eq!(rule.observe(HIGH, BUSY, t + ms(300)), HIGH_SHARE);
        assert_eq!(rule.observe(ON_TIME, BUSY, t + ms(310)), 0);
        // Long after: under the limit is nothing, over it must last before anything is
        // shed.
        let later = t + ms(310) + REMEMBERED;
        assert_eq!(rule.observe(HIGH, BUSY, later), 0);
        assert_eq!(rule.observe(LATE, BUSY, later + ms(10)), 0);
        assert_eq!(rule.observe(LATE, BUSY, later + ms(10) + SUSTAINED), MOST);
    }

    #[test]
    fn lateness_without_a_queue_of_arrivals_sheds_nothing() {
        // A process starved of CPU serving a handful of requests: late, but nothing
        // queued to shed.
        let t = Instant::now();
        let mut rule = ShedRule::new(LIMIT);
        for step in 0..50 {
            assert_eq!(rule.observe(LATE, MIN_ARRIVALS - 1, t + ms(10 * step)), 0);
        }
    }

    #[test]
    fn one_host_request_in_the_share_is_shed() {
        let queue = QueueDelay::new(10, Gauge::default());
        assert!((0..100).all(|_| queue.sheds().is_none()), "not shedding");
        queue.shed_one_in.store(4, Ordering::Relaxed);
        let shed = (0..100).filter(|_| queue.sheds().is_some()).count();
        assert_eq!(shed, 25);
    }

    #[test]
    fn a_zero_limit_counts_no_arrivals() {
        let queue = QueueDelay::new(0, Gauge::default());
        queue.arrived();
        assert_eq!(queue.arrivals.load(Ordering::Relaxed), 0);
    }
}
