//! The W3C trace of one command run (`sync`, `install`, …) or one agent sync: every
//! request to the control plane in it carries its trace id (a new span id each), and
//! the agent's line for the sync names it, so the control plane's log lines for that
//! sync can be found from the host's.

use std::sync::Mutex;

use driftless_client::{ClientError, InstallClient};
use driftless_wire::trace_context::TraceId;

static CURRENT: Mutex<Option<TraceId>> = Mutex::new(None);

/// Starts a new trace for what runs next and returns its id.
pub fn begin() -> TraceId {
    let trace = TraceId::random();
    // A poisoned lock only means another thread panicked mid-assignment of a Copy value.
    *CURRENT.lock().unwrap_or_else(|p| p.into_inner()) = Some(trace);
    trace
}

/// The current trace, started on first use.
pub fn current() -> TraceId {
    let known = *CURRENT.lock().unwrap_or_else(|p| p.into_inner());
    known.unwrap_or_else(begin)
}

/// A client of the control plane at `server` whose requests belong to the current trace.
pub fn client(server: &str) -> Result<InstallClient, ClientError> {
    Ok(InstallClient::new(server)?.with_trace(current()))
}
