//! A signed checkpoint of the audit log's hash chain: how many entries it held and the
//! hash of the last one, at a time. Kept outside the database, it makes a truncated or
//! rewritten log detectable (the log no longer reaches the checkpoint's head).

use serde::{Deserialize, Serialize};

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
