//! Verifies what the control plane sends an install against the install's trust
//! state: the root document, the director-signed assignment, and the release-signed
//! release document. Pure functions: the time and the state are passed in, so every
//! attack is a unit test.

mod checkpoint;
mod error;
mod local_rollback;
mod state;
mod verify;

pub use checkpoint::{
    require_extension, require_witnessed_extension, verify_checkpoint, verify_checkpoint_by_any,
};
pub use error::TrustError;
pub use local_rollback::verify_local_rollback;
pub use state::TrustState;
pub use verify::{
    root_fingerprint, verify_assignment, verify_release, verify_root_update, verify_root_v1,
    Verified,
};
