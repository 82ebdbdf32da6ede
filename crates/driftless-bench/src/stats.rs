//! What a run measured: every latency kept (a 15 s run at 100k req/s is 6 MB of
//! `u32`s), so percentiles are exact, and every answer's status counted.

use std::collections::BTreeMap;
use std::time::Duration;

/// What one connection saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Latency of every expected answer, in microseconds.
    pub latencies_us: Vec<u32>,
    /// How many answers had each status.
    pub statuses: BTreeMap<u16, u64>,
    /// Answers the run did not expect.
    pub unexpected: u64,
    /// `503` answers with `Retry-After`, when shedding is allowed.
    pub shed: u64,
    /// Requests that got no answer (connection errors).
    pub failed: u64,
    /// The first unexpected answer or error, to show.
    pub first_problem: Option<String>,
}

impl Tally {
    /// Adds another connection's tally.
    pub fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.unexpected += other.unexpected;
        self.shed += other.shed;
        self.failed += other.failed;
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
    }

    /// Notes a problem, keeping the first.
    pub fn problem(&mut self, what: impl FnOnce() -> String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(what());
        }
    }
}

/// The figures of a run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Expected answers.
    pub ok: u64,
    /// Expected answers per second of the run.
    pub req_per_s: f64,
    /// Median latency of expected answers, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// 99.9th percentile, milliseconds.
    pub p999_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
    /// Answers per status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Unexpected answers.
    pub unexpected: u64,
    /// `503` + `Retry-After` answers, when shedding is allowed.
    pub shed: u64,
    /// Requests without an answer.
    pub failed: u64,
}

/// The value at percentile `p` (0-100) of sorted `values`, by nearest rank.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    // The epsilon keeps 99.9% of 1000 at rank 999 despite binary fractions.
    let rank = (p / 100.0 * sorted.len() as f64 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarises a run that lasted `elapsed`.
pub fn summarise(mut tally: Tally, elapsed: Duration) -> Summary {
    tally.latencies_us.sort_unstable();
    let lat = &tally.latencies_us;
    let ms = |us: u32| f64::from(us) / 1000.0;
    let ok = lat.len() as u64;
    let secs = elapsed.as_secs_f64();
    Summary {
        ok,
        req_per_s: if secs > 0.0 { ok as f64 / secs } else { 0.0 },
        p50_ms: ms(percentile(lat, 50.0)),
        p99_ms: ms(percentile(lat, 99.0)),
        p999_ms: ms(percentile(lat, 99.9)),
        max_ms: ms(lat.last().copied().unwrap_or(0)),
        statuses: tally.statuses,
        unexpected: tally.unexpected,
        shed: tally.shed,
        failed: tally.failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&v, 50.0), 500);
        assert_eq!(percentile(&v, 99.0), 990);
        assert_eq!(percentile(&v, 99.9), 999);
        assert_eq!(percentile(&v, 100.0), 1000);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 99.9), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn a_summary_counts_only_expected_answers_as_throughput() {
        let mut a = Tally {
            latencies_us: vec![3000, 1000],
            ..Tally::default()
        };
        a.statuses.insert(304, 2);
        let mut b = Tally {
            latencies_us: vec![2000, 4000],
            unexpected: 1,
            failed: 2,
            ..Tally::default()
        };
        b.statuses.insert(304, 2);
        b.statuses.insert(401, 1);
        b.problem(|| "401 first".into());
        b.problem(|| "later".into());
        a.merge(b);
        assert_eq!(a.first_problem.as_deref(), Some("401 first"));
        let s = summarise(a, Duration::from_secs(2));
        assert_eq!(s.ok, 4);
        assert!((s.req_per_s - 2.0).abs() < 1e-9);
        assert!((s.p50_ms - 2.0).abs() < 1e-9);
        assert!((s.p99_ms - 4.0).abs() < 1e-9);
        assert!((s.max_ms - 4.0).abs() < 1e-9);
        assert_eq!(s.statuses.get(&304), Some(&4));
        assert_eq!(s.statuses.get(&401), Some(&1));
        assert_eq!((s.unexpected, s.failed), (1, 2));
    }
}
