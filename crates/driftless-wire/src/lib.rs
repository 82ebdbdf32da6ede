//! Wire types and signed documents shared by the Driftless control plane and CLI.
//!
//! Nothing in this crate does I/O or reads the clock: every time is passed in as Unix
//! seconds, so every attack on a document can be tested as a pure function.

pub mod airgap;
pub mod api;
pub mod audit_checkpoint;
pub mod checkin;
pub mod digest;
pub mod entitlements;
pub mod envelope;
pub mod keys;
pub mod preflight;
pub mod principals;
pub mod release;
pub mod root;
pub mod session;
pub mod status;
pub mod trace_context;
pub mod webhook;

pub use digest::Digest;
pub use envelope::{Envelope, EnvelopeError};
pub use keys::{KeyError, KeyId, PublicKey};

/// Payload type of a signed root document.
pub const ROOT_PAYLOAD_TYPE: &str = "application/vnd.driftless.root+json";
/// Payload type of a signed release document.
pub const RELEASE_PAYLOAD_TYPE: &str = "application/vnd.driftless.release+json";
/// Payload type of a signed per-install assignment.
pub const ASSIGNMENT_PAYLOAD_TYPE: &str = "application/vnd.driftless.assignment+json";
/// Payload type of a signed audit-log checkpoint.
pub const AUDIT_CHECKPOINT_PAYLOAD_TYPE: &str = "application/vnd.driftless.audit-checkpoint+json";
