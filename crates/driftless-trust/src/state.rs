//! What an install remembers between check-ins, so nothing it accepted can be undone.

use driftless_wire::root::RootDocument;
use serde::{Deserialize, Serialize};

/// The install's trust state; persisted atomically with fsync by the CLI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustState {
    /// The newest verified root.
    pub root: RootDocument,
    /// The app this host installed: a document for any other app is refused. Empty in
    /// a state written before hosts were pinned (the CLI fills it in from its config);
    /// an empty pin matches no app.
    #[serde(default)]
    pub app: String,
    /// Highest assignment sequence accepted.
    pub highest_sequence: u64,
    /// Highest sequence of an air-gap bundle's assignment accepted. Bundles are
    /// numbered by the director's clock, online assignments per install, so each has
    /// its own floor and a host can switch between the two.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub highest_bundle_sequence: u64,
    /// Highest release counter accepted.
    pub highest_release_counter: u64,
    /// Highest rollback floor among releases verified.
    pub rollback_floor: u64,
    /// The version of the release that set [`TrustState::rollback_floor`], to say so
    /// when a release below it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_floor_set_by: Option<String>,
}

impl TrustState {
    /// A fresh state anchored on a verified root, pinned to `app`.
    pub fn new(root: RootDocument, app: &str) -> Self {
        TrustState {
            root,
            app: app.to_string(),
            highest_sequence: 0,
            highest_bundle_sequence: 0,
            highest_release_counter: 0,
            rollback_floor: 0,
            rollback_floor_set_by: None,
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
