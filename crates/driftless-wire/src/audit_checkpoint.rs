//! A signed checkpoint of the audit log's hash chain: how many entries it held and the
//! hash of the last one, at a time. Kept outside the database, it makes a truncated or
//! rewritten log detectable (the log no longer reaches the checkpoint's head).

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;

/// The `type` of every checkpoint document.
pub const CHECKPOINT_DOC_TYPE: &str = "audit-checkpoint";

/// The signed checkpoint document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheckpoint {
    /// Always [`CHECKPOINT_DOC_TYPE`].
    #[serde(rename = "type")]
    pub doc_type: String,
    /// How many entries the log held: the head is entry number `tree_size`.
    pub tree_size: u64,
    /// The hex hash of entry `tree_size`.
    pub head: String,
    /// When it was signed, Unix seconds.
    pub at: i64,
}

/// `POST /v1/installs/{id}/audit-checkpoint`: a host asks for the newest checkpoint,
/// to witness it against the one it saw last.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WitnessRequest {
    /// The tree size of the checkpoint the host saw last, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
}

/// The answer: the newest checkpoint, and what the log holds now at the host's last
/// tree size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WitnessResponse {
    /// The newest signed checkpoint, the envelope as signed.
    pub checkpoint: Envelope,
    /// The hash of entry `since` in the log now; absent when the log holds no such
    /// entry (or the request named none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_at_since: Option<String>,
}
