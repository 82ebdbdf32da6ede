//! HTTP client for the control plane: the vendor API (operator token) and the install
//! API (registration, signed check-in). Every answer is read under a size cap and
//! every failure is one [`ClientError`] that says what to do.

mod error;
mod http;
mod install;
mod vendor;

pub use error::ClientError;
pub use install::{CheckinAuth, CheckinOutcome, InstallClient};
pub use vendor::{ListPage, VendorClient, NEXT_CURSOR_HEADER};

/// The largest answer the client reads from the control plane.
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// How long an artifact upload or download may take (a CLI binary is megabytes).
pub const ARTIFACT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
