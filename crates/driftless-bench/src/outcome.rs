//! What every kind of run shares: its load options, and turning what it saw into a
//! [`Report`] with the server's memory, shown as text or JSON.

use anyhow::Result;
use std::time::Duration;

use crate::measure;
use crate::report::{error_line, Report};
use crate::stats::{summarise, Tally};

/// Load options of `run` and `static`.
#[derive(clap::Args, Clone)]
pub struct Common {
    /// Keep-alive connections, one request in flight on each.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// How long to send, e.g. `15s`.
    #[arg(long, default_value = "15s")]
    pub duration: humantime::Duration,
    /// Target requests per second over all connections (default: flat out).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Count `503` answers with `Retry-After` as shed load, not as errors (overload runs).
    #[arg(long)]
    pub allow_shed: bool,
    /// The server's process id, to report its resident memory.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print the figures as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What was driven, for the report.
pub struct Subject {
    /// `converged`, `token` or `static`.
    pub kind: &'static str,
    /// What each answer had to be.
    pub expected: &'static str,
    /// How requests were authenticated.
    pub auth: String,
    /// Installs cycled through.
    pub active: u64,
    /// Installs in the database.
    pub installs: u64,
    /// Database bytes per install, if measured.
    pub db_bytes_per_install: Option<f64>,
    /// The write-ahead log's bytes, if measured.
    pub wal_bytes: Option<u64>,
}

/// A finished run: its report and the first unexpected thing it saw.
pub struct Outcome {
    /// The figures.
    pub report: Report,
    /// The first unexpected answer or error.
    pub first_problem: Option<String>,
}

/// Summarises a run.
pub fn finish(common: &Common, tally: Tally, elapsed: Duration, subject: Subject) -> Outcome {
    let first_problem = tally.first_problem.clone();
    let report = Report {
        kind: subject.kind.into(),
        auth: subject.auth,
        expected: subject.expected.into(),
        connections: common.connections,
        active: subject.active,
        installs: subject.installs,
        target_rate: common.rate,
        seconds: elapsed.as_secs_f64(),
        summary: summarise(tally, elapsed),
        server_rss_bytes: common.server_pid.and_then(measure::rss_bytes),
        db_bytes_per_install: subject.db_bytes_per_install,
        wal_bytes: subject.wal_bytes,
    };
    Outcome {
        report,
        first_problem,
    }
}

/// Prints the report on stdout; a run with unexpected answers prints a loud ERROR line
/// on stderr and fails.
pub fn show(outcome: &Outcome, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(&outcome.report)?);
    } else {
        print!("{}", outcome.report.text());
    }
    if !outcome.report.clean() {
        let line = error_line(&outcome.report, outcome.first_problem.as_deref());
        eprintln!("{line}");
        return Err(anyhow::Error::new(driftless_exit::Coded(
            driftless_exit::code::FAILURE,
            "the run got unexpected answers; its figures do not count".into(),
        )));
    }
    Ok(())
}
