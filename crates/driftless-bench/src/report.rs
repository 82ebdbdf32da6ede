//! How a run's figures are shown: a few aligned lines for people, or one JSON object
//! (`--json`) for scripts/bench; an ERROR line on stderr when anything was unexpected.

use serde::Serialize;

use crate::stats::Summary;

/// Everything one run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// What was driven: `converged`, `token` or `static`.
    pub kind: String,
    /// How requests were authenticated (`signature`, `session`, or `none`).
    pub auth: String,
    /// What each answer had to be, e.g. `304`.
    pub expected: String,
    /// Connections used.
    pub connections: usize,
    /// Installs cycled through (0 for static).
    pub active: u64,
    /// Installs in the database (0 for static).
    pub installs: u64,
    /// Target rate, if paced.
    pub target_rate: Option<f64>,
    /// Seconds the run lasted.
    pub seconds: f64,
    /// The figures.
    #[serde(flatten)]
    pub summary: Summary,
    /// The server's resident memory after the run, bytes.
    pub server_rss_bytes: Option<u64>,
    /// Database file bytes per install after the run (audit included).
    pub db_bytes_per_install: Option<f64>,
    /// The database's write-ahead log after the run, bytes (not counted above).
    pub wal_bytes: Option<u64>,
}

impl Report {
    /// Whether every request got an expected answer (or, when allowed, a shed `503`),
    /// and at least one did.
    pub fn clean(&self) -> bool {
        self.summary.unexpected == 0 && self.summary.failed == 0 && self.summary.ok > 0
    }

    /// The human form.
    pub fn text(&self) -> String {
        let s = &self.summary;
        let mut out = String::new();
        let what = match self.kind.as_str() {
            "static" => "static file".to_string(),
            kind => format!(
                "{kind} check-ins ({} auth), {} of {} installs",
                self.auth, self.active, self.installs
            ),
        };
        let rate = self
            .target_rate
            .map_or("flat out".to_string(), |r| format!("target {r:.0} req/s"));
        out.push_str(&format!(
            "run        {what}, {} connections, {rate}, expecting {}\n",
            self.connections, self.expected
        ));
        out.push_str(&format!(
            "throughput {:.0} req/s ({} expected answers in {:.2} s)\n",
            s.req_per_s, s.ok, self.seconds
        ));
        out.push_str(&format!(
            "latency    p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms\n",
            s.p50_ms, s.p99_ms, s.p999_ms, s.max_ms
        ));
        let statuses: Vec<_> = s
            .statuses
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        out.push_str(&format!(
            "statuses   {}{}{}\n",
            statuses.join(", "),
            if s.shed > 0 {
                format!(" (shed with Retry-After: {})", s.shed)
            } else {
                String::new()
            },
            if s.failed > 0 {
                format!(" (no answer: {})", s.failed)
            } else {
                String::new()
            },
        ));
        if let Some(rss) = self.server_rss_bytes {
            out.push_str(&format!("server RSS {:.1} MB\n", rss as f64 / 1e6));
        }
        if let Some(per) = self.db_bytes_per_install {
            out.push_str(&format!(
                "database   {per:.0} bytes per install ({:.1} MB for {} installs; WAL {:.1} MB besides)\n",
                per * self.installs as f64 / 1e6,
                self.installs,
                self.wal_bytes.unwrap_or(0) as f64 / 1e6
            ));
        }
        out
    }
}

/// The loud line a run with unexpected answers ends with.
pub fn error_line(report: &Report, first_problem: Option<&str>) -> String {
    let s = &report.summary;
    format!(
        "ERROR: {} unexpected answers and {} requests without an answer (expected {}); first: {}",
        s.unexpected,
        s.failed,
        report.expected,
        first_problem.unwrap_or("none recorded")
    )
}
