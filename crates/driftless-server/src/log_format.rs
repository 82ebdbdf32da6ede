//! The control plane's log: one JSON object a line on stderr. An event's fields are
//! top-level keys next to `timestamp`, `level`, `target` and `message`; `spans` lists
//! the spans it happened in, outermost first, so a request's line carries its
//! `request_id`, `trace_id` and `span_id` there (see [`crate::request_context`]).

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The filter when the operator set none.
pub const DEFAULT_FILTER: &str = "info";

/// A subscriber writing the control plane's JSON lines to `writer`, filtered by
/// `filter` (tracing's env-filter syntax; [`DEFAULT_FILTER`] when `None` or invalid).
pub fn json_subscriber<W>(filter: Option<&str>, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = filter
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}
