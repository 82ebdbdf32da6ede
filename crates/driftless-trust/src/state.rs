//! What an install remembers between check-ins, so nothing it accepted can be undone.

use driftless_wire::root::RootDocument;
use serde::{Deserialize, Serialize};

/// The install's trust state; persisted atomically with fsync by the CLI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustState {
    /// The newest verified root.
    pub root: RootDocument,
    /// Highest assignment sequence accepted.
    pub highest_sequence: u64,
    /// Highest release counter accepted.
    pub highest_release_counter: u64,
    /// Highest rollback floor among releases verified.
    pub rollback_floor: u64,
}

impl TrustState {
    /// A fresh state anchored on a verified root.
    pub fn new(root: RootDocument) -> Self {
        TrustState {
            root,
            highest_sequence: 0,
            highest_release_counter: 0,
            rollback_floor: 0,
        }
    }
}
