//! Every environment variable `driftless` reads, in one place.

/// The state directory (`--state-dir`).
pub const STATE_DIR: &str = "DRIFTLESS_STATE_DIR";
/// The license key for `install`, when neither `--license` nor `--license-file` is
/// given (kept off the command line, where other users could read it).
pub const LICENSE: &str = "DRIFTLESS_LICENSE";
/// Set to any value to turn off colour and progress bars.
pub const NO_COLOR: &str = "NO_COLOR";
/// The base for the state directory of a non-root user.
pub const XDG_STATE_HOME: &str = "XDG_STATE_HOME";
/// The user's home, when XDG_STATE_HOME is not set.
pub const HOME: &str = "HOME";
/// Set by `driftless` on the process it re-executes after a self-update, so the new
/// CLI never self-updates again in the same sync (internal; not for users).
pub const SELF_UPDATED: &str = "DRIFTLESS_SELF_UPDATED";
/// Debug builds only: the time the update-window check sees (Unix seconds or RFC 3339),
/// so window tests are deterministic. Ignored by release builds.
pub const TEST_NOW: &str = "DRIFTLESS_TEST_NOW";
/// The host's time zone for update windows (a name, or a POSIX rule like `CET-1CEST,M3.5.0,M10.5.0/3`).
pub const TZ: &str = "TZ";
/// The log filter (tracing's env-filter syntax, e.g. `debug`); default `info`.
pub const LOG: &str = "DRIFTLESS_LOG";
/// The log format when `--log-format` is not given: `text` or `json`.
pub const LOG_FORMAT: &str = "DRIFTLESS_LOG_FORMAT";
