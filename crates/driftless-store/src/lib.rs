//! The control plane's storage: one [`Store`] trait in domain types, with one crate
//! per backend (SQLite embedded by default, PostgreSQL for replicas), each owning its
//! migrations. Handlers never build SQL.

pub mod assignment_codec;
pub mod audit_actor;
pub mod audit_chain;
mod audited;
mod pages;
mod principals;
pub mod report_limits;
pub mod schema_check;
mod types;
mod webhooks;

pub use audited::*;
pub use pages::*;
pub use principals::*;
pub use types::*;
pub use webhooks::*;

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
    /// The database cannot be reached right now (down, restarting, no free connection
    /// in time); nothing was saved. Retry later: the store reconnects by itself.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database failed; the cause is for the log, not the client.
    #[error("database error: {0}")]
    Backend(String),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The control plane's storage.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a user; `Conflict` if the name is taken (revoked users keep theirs).
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// Every user, by name.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// One user by name.
    async fn get_user(&self, name: &str) -> StoreResult<Option<User>>;
    /// Revokes a user and every token of theirs, in one transaction; false if no such
    /// live user.
    async fn revoke_user(&self, name: &str, now: i64) -> StoreResult<bool>;
    /// Stores a token; `Conflict` if its id or hash is taken, `Missing` if it names a
    /// user who does not exist or is revoked.
    async fn create_api_token(&self, token: &ApiToken) -> StoreResult<()>;
    /// Every token, oldest first.
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiToken>>;
    /// The token whose hash is `token_sha256` (revoked and expired ones included).
    async fn api_token_by_hash(&self, token_sha256: &str) -> StoreResult<Option<ApiToken>>;
    /// Revokes a token; false if no such live token.
    async fn revoke_api_token(&self, id: &str, now: i64) -> StoreResult<bool>;

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

    /// Replaces a channel's promotion policy (JSON the control plane owns); `Missing`
    /// if the channel does not exist.
    async fn set_channel_policy(
        &self,
        app: &str,
        channel: &str,
        policy_json: &str,
        now: i64,
    ) -> StoreResult<()>;
    /// A channel's promotion policy (JSON), `None` when none was ever set.
    async fn channel_policy(&self, app: &str, channel: &str) -> StoreResult<Option<String>>;

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
    /// One license by id, with its terms.
    async fn get_license(&self, id: &str) -> StoreResult<Option<(License, LicenseTerms)>>;
    /// Replaces a license's terms; false if no such license. Its installs' check-ins
    /// see the change at once (the change feed names each of them).
    async fn set_license_terms(&self, id: &str, terms: &LicenseTerms) -> StoreResult<bool>;
    /// Stores a newly registered install only if its license has a seat left: fewer
    /// active installs (not revoked, not uninstalled) than its seats, counted in the
    /// same transaction as the insert, so of two concurrent registrations for the last
    /// seat exactly one is stored. False, and nothing stored, when no seat is left;
    /// `Missing` if its license or channel does not exist.
    async fn register_install(&self, install: &Install) -> StoreResult<bool>;

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
    /// Links receipt `sequence` (payload digest `digest`) of air-gapped install
    /// `install_id` onto the last receipt imported for it: linked when `previous` names
    /// that one, or when none was imported yet (the first); otherwise refused, naming
    /// the last one (a fork, a gap or a replay). One conditional write, so of two
    /// receipts naming the same previous one exactly one is linked.
    async fn link_receipt(
        &self,
        install_id: &str,
        previous: Option<&str>,
        sequence: i64,
        digest: &str,
    ) -> StoreResult<ReceiptLink>;
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

    /// Applies `change` and appends `events` in order (at least one; see
    /// [`entry_for`]) to the audit log in one transaction: all or nothing. When the
    /// change does not happen (`Absent`, `NoSeat`, `ReceiptRefused`, or an error such
    /// as `Conflict` or `Missing`), nothing is written, no entry either; when an entry
    /// cannot be written, the change is not kept.
    async fn apply_audited(
        &self,
        change: &AuditedChange,
        events: &[AuditEvent],
    ) -> StoreResult<Applied>;
    /// Appends to the audit log, chaining each entry's hash to the previous one, for an
    /// audited action that changes nothing else (a read, a token handed out); a change
    /// goes through [`Store::apply_audited`] instead.
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()>;
    /// The newest `limit` audit entries, newest first.
    async fn list_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>>;

    // Lists that scale: keyset pages and database-computed counts.

    /// One page of the fleet in registration order (then id), starting after `after`,
    /// at most `limit` installs (at least one), with the channel's version as
    /// `desired_version`. `next` is set when more installs follow.
    async fn list_installs_page(
        &self,
        filter: &InstallFilter,
        after: Option<&InstallCursor>,
        limit: u32,
    ) -> StoreResult<InstallPage>;
    /// How many installs (of one app, if given) share each app, channel, running
    /// version, status and reason, counted by the database.
    async fn fleet_summary(&self, app: Option<&str>) -> StoreResult<FleetSummary>;
    /// How many installs per app and channel checked in once but not since
    /// `seen_before` (Unix seconds); revoked and uninstalled installs are not counted.
    async fn stale_installs(&self, seen_before: i64) -> StoreResult<Vec<StaleCount>>;
    /// One page of the audit log, newest first: entries with `seq` below `before` (all
    /// when `None`), at most `limit` (at least one). `next` is set when older entries
    /// follow.
    async fn list_audit_page(&self, before: Option<u64>, limit: u32) -> StoreResult<AuditPage>;
    /// Stores a signed checkpoint of the audit log (`envelope`: its JSON text) for
    /// `tree_size` entries; false (nothing changed) when one of that size is stored, so
    /// replicas that sign the same head at once keep one.
    async fn save_audit_checkpoint(&self, tree_size: u64, envelope: &str) -> StoreResult<bool>;
    /// The stored checkpoint of the largest tree size, if any.
    async fn latest_audit_checkpoint(&self) -> StoreResult<Option<StoredCheckpoint>>;
    // Replicas: trust state, artifacts and leases shared through the database.

    /// Stores `state` only if its root version is newer than every stored one; of
    /// concurrent publishes of one version exactly one returns true. False (nothing
    /// changed) when the stored version is the same or newer.
    async fn publish_trust(&self, state: &TrustState) -> StoreResult<bool>;
    /// The newest trust state published, if any.
    async fn trust_state(&self) -> StoreResult<Option<TrustState>>;
    /// The newest published root version (0 when none): a cheap read for polling.
    async fn trust_version(&self) -> StoreResult<u64>;
    /// Stores an artifact under its `sha256:` digest (the caller checked it); false if
    /// one was stored under that digest already (it is kept as it was).
    async fn put_artifact(&self, digest: &str, bytes: &[u8], now: i64) -> StoreResult<bool>;
    /// The artifact stored under `digest`.
    async fn get_artifact(&self, digest: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Stores a support bundle install `install_id` uploaded, whose `sha256:` digest is
    /// `digest` (the caller computed it), and returns what was stored; `Missing` if no
    /// such install.
    async fn put_support_bundle(
        &self,
        install_id: &str,
        bytes: &[u8],
        digest: &str,
        now: i64,
    ) -> StoreResult<SupportBundleInfo>;
    /// The support bundles install `install_id` uploaded, newest first.
    async fn list_support_bundles(&self, install_id: &str) -> StoreResult<Vec<SupportBundleInfo>>;
    /// Support bundle `id` of install `install_id`, with its bytes; `None` when that
    /// install uploaded no bundle with that number.
    async fn get_support_bundle(
        &self,
        install_id: &str,
        id: u64,
    ) -> StoreResult<Option<(SupportBundleInfo, Vec<u8>)>>;
    /// Takes or renews lease `name` for `holder` until `now_ms + ttl_ms`: true if it
    /// is free, expired (at or before `now_ms`) or already `holder`'s; false, and
    /// nothing changed, while another holder's lease runs.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool>;

    // Webhooks: registrations and the delivery queue.

    /// Registers a webhook and returns it with its id; `Missing` if the app does not exist.
    async fn create_webhook(&self, hook: &NewWebhook) -> StoreResult<Webhook>;
    /// The webhooks (of one app, if given), by id.
    async fn list_webhooks(&self, app: Option<&str>) -> StoreResult<Vec<Webhook>>;
    /// Removes webhook `id` of `app` and its queued deliveries; false if no such webhook.
    async fn delete_webhook(&self, app: &str, id: u64) -> StoreResult<bool>;
    /// Queues `event` for every webhook of its app that wants its type, due now, in one
    /// transaction; returns how many deliveries were queued, or `None` (nothing queued)
    /// when the event opens an episode that is open already.
    async fn enqueue_webhook_event(&self, event: &WebhookEvent) -> StoreResult<Option<u64>>;
    /// Closes the episode of (`app`, `kind`), so the next such event is sent; false if
    /// none was open.
    async fn close_webhook_episode(&self, app: &str, kind: &str) -> StoreResult<bool>;
    /// Claims up to `limit` (at least one) pending deliveries that are due at `now_ms`
    /// and not leased (or whose lease ran out) for `holder` until `now_ms + lease_ms`,
    /// oldest due first. Two concurrent claims never get the same delivery.
    async fn claim_webhook_deliveries(
        &self,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    /// Saves an attempt's outcome and its audit entry in one transaction and frees the
    /// lease, only if `attempt.holder` still holds the pending delivery: false, and
    /// nothing saved, if another replica claimed it meanwhile or it is gone.
    async fn finish_webhook_delivery(&self, attempt: &DeliveryAttempt) -> StoreResult<bool>;
    /// The newest `limit` deliveries of the app's webhooks, newest first.
    async fn list_webhook_deliveries(
        &self,
        app: &str,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>>;

    // --- Bulk import (the load generator's seeding) ---

    /// Stores `installs` with what registration and a check-in would have written (the
    /// install row, its report, assignment and newest request time, and its
    /// registration's audit entry, chained in order), in one transaction: all or
    /// nothing. `Missing` if a license or channel does not exist, `Conflict` if an
    /// install id is taken.
    async fn import_installs(&self, installs: &[ImportedInstall]) -> StoreResult<()>;
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

    /// Install `install_id`'s status transitions, newest first, at most `limit`; the
    /// store writes one whenever [`Store::record_checkin`] changes the reported status.
    async fn status_transitions(
        &self,
        install_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<StatusTransition>>;
    /// Deletes the status transitions recorded before `before` (Unix seconds); how many.
    async fn prune_status_transitions(&self, before: i64) -> StoreResult<u64>;
    /// One install with its channel's version and its last report, as a fleet list
    /// shows it; `None` if no such install.
    async fn install_summary(&self, id: &str) -> StoreResult<Option<InstallSummary>>;
}
