//! The CLI's log on stderr: what the agent writes after each sync (with the sync's
//! `trace_id`) and, under `DRIFTLESS_LOG=debug`, one line per request to the control
//! plane (method, path, status, trace and span ids, the control plane's request id,
//! latency). Plain lines by default; `--log-format json` writes one JSON object a line
//! for a log shipper. Nothing secret is ever a field: requests are logged by path only.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::env;

/// The filter when `DRIFTLESS_LOG` is unset or invalid.
const DEFAULT_FILTER: &str = "info";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `<time> <LEVEL> <message> <field>=<value>…`
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `message` and the fields.
    Json,
}

/// Installs the log for this process, filtered by `DRIFTLESS_LOG`.
pub fn init(format: LogFormat) {
    let filter = std::env::var(env::LOG)
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // Without the `log` bridge: libraries' own debug output (the Engine API client's
    // requests) stays out of the host's log.
    let installed = match format {
        LogFormat::Text => {
            let colour =
                std::env::var_os(env::NO_COLOR).is_none() && std::io::stderr().is_terminal();
            tracing::subscriber::set_global_default(builder.with_ansi(colour).finish())
        }
        LogFormat::Json => tracing::subscriber::set_global_default(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .finish(),
        ),
    };
    // Only fails when a log is already installed, which then serves.
    drop(installed);
}
