//! The load loop shared by every kind of run: one task per connection on one thread,
//! each sending the requests its [`Exchange`] prepares, one at a time on a keep-alive
//! connection, flat out or paced to a share of the target rate, until the deadline.
//! A connection whose request was shed (`503` + `Retry-After`, when that is allowed)
//! waits as a host's agent does: the seconds the server named plus up to a tenth more,
//! then resumes its pace from then, without catching up.

use std::hash::{BuildHasher as _, Hasher as _};
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
                let shed = record(
                    &mut tally,
                    &mut exchange,
                    &answer,
                    conn.buf(),
                    latency,
                    load.allow_shed,
                );
                if let Some(seconds) = shed {
                    let resume = Instant::now() + backoff(seconds);
                    tokio::time::sleep_until(resume.min(deadline).into()).await;
                    due = Instant::now();
                }
            }
            Err(e) => {
                tally.failed += 1;
                tally.problem(|| e.to_string());
            }
        }
    }
}

/// Counts `answer`; returns the `Retry-After` seconds of an allowed shed answer.
fn record<E: Exchange>(
    tally: &mut Tally,
    exchange: &mut E,
    answer: &Answer,
    buf: &[u8],
    latency: Duration,
    allow_shed: bool,
) -> Option<u64> {
    *tally.statuses.entry(answer.status).or_default() += 1;
    if exchange.expected(answer, buf) {
        tally
            .latencies_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        return None;
    }
    match answer.retry_after {
        Some(seconds) if allow_shed && answer.status == 503 => {
            tally.shed += 1;
            Some(seconds)
        }
        _ => {
            tally.unexpected += 1;
            tally.problem(|| describe(answer, buf));
            None
        }
    }
}

/// How long a shed connection waits: `seconds`, plus up to a tenth more at random, as
/// the agent does (so shed hosts do not all come back at once).
fn backoff(seconds: u64) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let tenths = Duration::from_secs(seconds) / 10;
    Duration::from_secs(seconds) + tenths.mul_f64((random % 1000) as f64 / 1000.0)
}

/// `HTTP 401: {"error":…}` (the body cut short), for the ERROR line.
pub fn describe(answer: &Answer, buf: &[u8]) -> String {
    let body = buf.get(answer.body.clone()).unwrap_or_default();
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    let missing = if answer.status == 503 && answer.retry_after.is_none() {
        " (without Retry-After)"
    } else {
        ""
    };
    format!("HTTP {}{missing}: {}", answer.status, text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backoff_is_the_seconds_named_plus_at_most_a_tenth() {
        for _ in 0..100 {
            let wait = backoff(2);
            assert!(wait >= Duration::from_secs(2), "{wait:?}");
            assert!(wait <= Duration::from_millis(2200), "{wait:?}");
        }
    }
}
