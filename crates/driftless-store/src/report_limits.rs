//! The longest texts an install's check-in report may carry, in bytes. The control
//! plane refuses a report over them before storing anything: a stored text must fit
//! every backend's indexes (PostgreSQL's fleet-summary index holds the reported
//! version, and a B-tree entry must fit in a third of a page, about 2.7 KB) and keep an
//! install's row small.

/// A version the host runs, tried, or holds back (`report_version`,
/// `report_target_version`, the waiting release's version).
pub const MAX_VERSION_BYTES: usize = 128;

/// The CLI's own version.
pub const MAX_CLI_VERSION_BYTES: usize = 64;

/// A reason's detail: one line for a person, with a log's last lines (the CLI sends at
/// most 1000 characters).
pub const MAX_REASON_DETAIL_BYTES: usize = 8192;

/// What a waiting release waits for (`approval`, `window`).
pub const MAX_WAITS_FOR_BYTES: usize = 32;

/// The status with its error text (`failed:<why>`, `drifted:<what>`; the CLI sends at
/// most 300 characters of why). With the version, the longest entry of PostgreSQL's
/// summary index stays well under its 2.7 KB.
pub const MAX_STATUS_BYTES: usize = 1536;

/// The name of the preflight check a `preflight_failed` reason names (`ports`,
/// `memory_mb`, an endpoint's name).
pub const MAX_REASON_CHECK_BYTES: usize = 64;
