//! The control plane's storage: one [`Store`] trait in domain types, with one crate
//! per backend (SQLite embedded by default; PostgreSQL later), each owning its
//! migrations. Handlers never build SQL.

mod types;

pub use types::*;

use async_trait::async_trait;

/// What a backend can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same unique key exists.
    #[error("{what} already exists")]
    Conflict {
        /// What collided, e.g. "app `acme`".
        what: String,
    },
    /// A row the operation needs does not exist.
    #[error("{what} does not exist")]
    Missing {
        /// What is missing, e.g. "channel `acme/beta`".
        what: String,
    },
    /// The row changed since the caller read it; nothing was saved. Read it again and
    /// decide again.
    #[error("{what} changed since it was read")]
    Stale {
        /// What changed, e.g. "rollout #3".
        what: String,
    },
    /// The database failed; the cause is for the log, not the client.
    #[error("database error: {0}")]
    Backend(String),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The control plane's storage.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates an app; `Conflict` if it exists.
    async fn create_app(&self, name: &str, now: i64) -> StoreResult<App>;
    /// Every app, by name.
    async fn list_apps(&self) -> StoreResult<Vec<App>>;
    /// One app.
    async fn get_app(&self, name: &str) -> StoreResult<Option<App>>;

    /// Creates a channel of an existing app; `Missing` if the app does not exist.
    async fn create_channel(&self, app: &str, name: &str, now: i64) -> StoreResult<Channel>;
    /// The app's channels, by name.
    async fn list_channels(&self, app: &str) -> StoreResult<Vec<Channel>>;
    /// One channel.
    async fn get_channel(&self, app: &str, name: &str) -> StoreResult<Option<Channel>>;
    /// Points a channel at an existing release; `Missing` if either does not exist.
    async fn set_channel_release(
        &self,
        app: &str,
        channel: &str,
        version: &str,
        now: i64,
    ) -> StoreResult<()>;

    /// Creates a customer; `Conflict` if the name is taken.
    async fn create_customer(&self, name: &str, now: i64) -> StoreResult<Customer>;
    /// Every customer, by name.
    async fn list_customers(&self) -> StoreResult<Vec<Customer>>;
    /// One customer by name.
    async fn get_customer(&self, name: &str) -> StoreResult<Option<Customer>>;

    /// Stores a license; `Missing` if its customer, app or channel does not exist.
    async fn create_license(&self, license: &License) -> StoreResult<()>;
    /// The license whose key hashes to `key_hash`.
    async fn license_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<License>>;
    /// Every license, newest first.
    async fn list_licenses(&self) -> StoreResult<Vec<License>>;
    /// Revokes a license and every install registered with it; false if no such license.
    async fn revoke_license(&self, id: &str, now: i64) -> StoreResult<bool>;

    /// Stores a release; `Conflict` if the version or the counter is taken for the app.
    async fn insert_release(&self, release: &Release) -> StoreResult<()>;
    /// One release by version.
    async fn get_release(&self, app: &str, version: &str) -> StoreResult<Option<Release>>;
    /// The app's releases, highest counter first.
    async fn list_releases(&self, app: &str) -> StoreResult<Vec<Release>>;
    /// The highest release counter of the app (0 when none).
    async fn max_release_counter(&self, app: &str) -> StoreResult<u64>;

    /// Stores a newly registered install.
    async fn create_install(&self, install: &Install) -> StoreResult<()>;
    /// One install.
    async fn get_install(&self, id: &str) -> StoreResult<Option<Install>>;
    /// Revokes one install; false if no such install.
    async fn revoke_install(&self, id: &str, now: i64) -> StoreResult<bool>;
    /// Marks one install uninstalled at `now` (the first time only) and revokes it, so
    /// its key is refused from then on; false if no such install.
    async fn uninstall_install(&self, id: &str, now: i64) -> StoreResult<bool>;
    /// What a check-in needs, in one indexed read: the install, what its channel
    /// points at, and the assignment it was last given.
    async fn checkin_view(&self, install_id: &str) -> StoreResult<Option<CheckinView>>;
    /// Records a check-in, and the new assignment if one was issued, in one write.
    async fn record_checkin(
        &self,
        install_id: &str,
        report: &CheckinReport,
        assignment: Option<&StoredAssignment>,
    ) -> StoreResult<()>;
    /// Accepts a signed request of install `install_id` made at `signed_at_ms` only if
    /// it is newer than every request accepted from that install before, and records
    /// it as the newest. One conditional write, so of two concurrent requests with the
    /// same time exactly one is accepted. False for a replay (not newer); `Missing` if
    /// no such install.
    async fn accept_signed_request(&self, install_id: &str, signed_at_ms: i64)
        -> StoreResult<bool>;
    /// The fleet: every install (of one app, if given) with its last report.
    async fn list_installs(&self, app: Option<&str>) -> StoreResult<Vec<InstallSummary>>;

    /// Marks a release active, deprecated or yanked; false if no such release.
    async fn set_release_state(
        &self,
        app: &str,
        version: &str,
        state: ReleaseState,
    ) -> StoreResult<bool>;
    /// The versions a channel has pointed at, newest first, each once.
    async fn channel_history(&self, app: &str, channel: &str) -> StoreResult<Vec<String>>;
    /// Moves an install to another channel of its app; `Missing` if either does not exist.
    async fn move_install(&self, id: &str, channel: &str) -> StoreResult<()>;

    /// Stores a new rollout at revision 0 and returns its id; `Conflict` if the
    /// channel has an active one (running, paused or halted).
    async fn create_rollout(&self, rollout: &Rollout) -> StoreResult<i64>;
    /// The channel's active rollout.
    async fn active_rollout(&self, app: &str, channel: &str) -> StoreResult<Option<Rollout>>;
    /// Every running rollout, for the background ticker.
    async fn running_rollouts(&self) -> StoreResult<Vec<Rollout>>;
    /// The app's rollouts, newest first.
    async fn list_rollouts(&self, app: &str) -> StoreResult<Vec<Rollout>>;
    /// Saves a rollout's state, wave, wave start, reason and update time (by id), with
    /// the channel switch and the audit entry `update` carries, in one transaction,
    /// only if the stored rollout is still at `update.rollout.revision`: `Stale` (and
    /// nothing saved) if it moved, `Missing` if no such rollout or channel release,
    /// `Conflict` if it would make a second rollout of the channel active. Returns the
    /// rollout as stored, with its new revision.
    async fn update_rollout(&self, update: &RolloutUpdate) -> StoreResult<Rollout>;
    /// How the installs on a channel fared with one release.
    async fn rollout_outcomes(
        &self,
        app: &str,
        channel: &str,
        version: &str,
    ) -> StoreResult<RolloutOutcomes>;

    /// Appends to the audit log, chaining each entry's hash to the previous one.
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()>;
    /// The newest `limit` audit entries, newest first.
    async fn list_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>>;

    /// Stores the install's check-in session, replacing the one it had; `Missing` if
    /// no such install.
    async fn put_session(&self, session: &StoredSession) -> StoreResult<()>;
    /// The install's current session, expired or not.
    async fn get_session(&self, install_id: &str) -> StoreResult<Option<StoredSession>>;
    /// Writes a batch of heartbeats: each install's last report time and newest
    /// accepted request time move forward to the heartbeat's (never back). Installs
    /// that no longer exist are skipped.
    async fn record_heartbeats(&self, beats: &[Heartbeat]) -> StoreResult<()>;
    /// The change feed after `after_seq`, oldest first, at most `limit` entries.
    async fn changes_since(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<Change>>;
    /// The newest position of the change feed (0 when empty).
    async fn latest_change_seq(&self) -> StoreResult<i64>;
    /// Drops feed entries recorded before `before` (Unix seconds); returns how many.
    async fn prune_changes(&self, before: i64) -> StoreResult<u64>;
}
