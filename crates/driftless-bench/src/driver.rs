//! The load loop shared by every kind of run: one task per connection on one thread,
//! each sending the requests its [`Exchange`] prepares, one at a time on a keep-alive
//! connection, flat out or paced to a share of the target rate, until the deadline.

use std::time::{Duration, Instant};

use crate::http1::{Answer, Connection};
use crate::stats::Tally;

/// What one connection sends and what it expects back.
pub trait Exchange: Send + 'static {
    /// Writes the next request into `out` (cleared by the caller).
    fn next_request(&mut self, out: &mut Vec<u8>);
    /// Whether `answer` (whose ranges index `buf`) is the one this run expects.
    fn expected(&mut self, answer: &Answer, buf: &[u8]) -> bool;
}

/// How hard to drive.
#[derive(Clone, Debug)]
pub struct Load {
    /// `host:port`.
    pub addr: String,
    /// How long to send.
    pub duration: Duration,
    /// Requests per second over all connections; `None` is flat out.
    pub rate: Option<f64>,
    /// Whether `503` with `Retry-After` is an accepted answer (an overload run).
    pub allow_shed: bool,
}

/// Runs one task per exchange until the deadline; returns what they saw and how long
/// the run took.
pub async fn drive<E: Exchange>(load: &Load, exchanges: Vec<E>) -> (Tally, Duration) {
    let connections = exchanges.len().max(1);
    let interval = load
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(connections as f64 / r));
    let start = Instant::now();
    let deadline = start + load.duration;
    let tasks: Vec<_> = exchanges
        .into_iter()
        .enumerate()
        .map(|(i, exchange)| {
            let load = load.clone();
            // Stagger paced connections over one interval so they do not send in step.
            let offset = interval.map_or(Duration::ZERO, |iv| iv * i as u32 / connections as u32);
            tokio::spawn(connection_loop(
                load,
                exchange,
                start + offset,
                interval,
                deadline,
            ))
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        match task.await {
            Ok(t) => tally.merge(t),
            Err(e) => {
                tally.failed += 1;
                tally.problem(|| format!("a connection task failed: {e}"));
            }
        }
    }
    (tally, start.elapsed())
}

async fn connection_loop<E: Exchange>(
    load: Load,
    mut exchange: E,
    first: Instant,
    interval: Option<Duration>,
    deadline: Instant,
) -> Tally {
    let mut conn = Connection::new(&load.addr);
    let mut tally = Tally::default();
    let mut request = Vec::with_capacity(1024);
    let mut due = first;
    loop {
        if let Some(iv) = interval {
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
            due += iv;
        }
        let sent = Instant::now();
        if sent >= deadline {
            return tally;
        }
        request.clear();
        exchange.next_request(&mut request);
        match conn.round_trip(&request).await {
            Ok(answer) => {
                let latency = sent.elapsed();
                record(
                    &mut tally,
                    &mut exchange,
                    &answer,
                    conn.buf(),
                    latency,
                    load.allow_shed,
                );
            }
            Err(e) => {
                tally.failed += 1;
                tally.problem(|| e.to_string());
            }
        }
    }
}

fn record<E: Exchange>(
    tally: &mut Tally,
    exchange: &mut E,
    answer: &Answer,
    buf: &[u8],
    latency: Duration,
    allow_shed: bool,
) {
    *tally.statuses.entry(answer.status).or_default() += 1;
    if exchange.expected(answer, buf) {
        tally
            .latencies_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    } else if allow_shed && answer.status == 503 && answer.retry_after {
        tally.shed += 1;
    } else {
        tally.unexpected += 1;
        tally.problem(|| describe(answer, buf));
    }
}

/// `HTTP 401: {"error":…}` (the body cut short), for the ERROR line.
pub fn describe(answer: &Answer, buf: &[u8]) -> String {
    let body = buf.get(answer.body.clone()).unwrap_or_default();
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    let missing = if answer.status == 503 && !answer.retry_after {
        " (without Retry-After)"
    } else {
        ""
    };
    format!("HTTP {}{missing}: {}", answer.status, text.trim())
}
