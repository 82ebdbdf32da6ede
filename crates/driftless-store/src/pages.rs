//! Paged lists and database-computed aggregates: what keeps the fleet and audit views
//! fast with a million installs. Pages are keyset (cursor) pages in a stable order,
//! never OFFSET, so a page costs the same wherever it starts.

use serde::{Deserialize, Serialize};

use crate::{AuditEntry, InstallSummary};

/// One page of a list and where the next one starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T, C> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<C>,
}

/// Which installs a fleet list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstallShow {
    /// Installs in use (not uninstalled).
    #[default]
    Active,
    /// Every install, uninstalled ones included.
    All,
    /// Only uninstalled installs.
    Uninstalled,
}

/// What a fleet page lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallFilter {
    /// Only installs of this app.
    pub app: Option<String>,
    /// Which installs by their uninstalled state.
    pub show: InstallShow,
}

/// The position after an install in the fleet's order (registration time, then id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallCursor {
    /// The install's `created_at`.
    pub created_at: i64,
    /// The install's id.
    pub id: String,
}

impl InstallCursor {
    /// The cursor just after `install`.
    pub fn after(install: &InstallSummary) -> Self {
        InstallCursor {
            created_at: install.install.created_at,
            id: install.install.id.clone(),
        }
    }
}

/// A page of the fleet.
pub type InstallPage = Page<InstallSummary, InstallCursor>;

/// A page of the audit log, newest first; the cursor is the `seq` to continue below.
pub type AuditPage = Page<AuditEntry, u64>;

/// How many installs share one combination of app, channel, running version, status and
/// reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetCount {
    /// App name.
    pub app: String,
    /// Channel name.
    pub channel: String,
    /// The version the installs reported running; `None` if they never reported one.
    pub version: Option<String>,
    /// Their status: a reported status, `new` (never checked in) or `uninstalled`.
    pub status: String,
    /// The code of the reason they reported (e.g. `health_failed`), if any.
    pub reason: Option<String>,
    /// How many installs.
    pub installs: u64,
}

/// The fleet in numbers, computed by the database.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetSummary {
    /// Every install counted.
    pub total: u64,
    /// One row per combination, ordered by app, channel, version, status, reason.
    pub counts: Vec<FleetCount>,
}

/// How many installs of one app's channel have not checked in for a while.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleCount {
    /// App name.
    pub app: String,
    /// Channel name.
    pub channel: String,
    /// How many installs.
    pub installs: u64,
}
