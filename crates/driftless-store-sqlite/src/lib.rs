//! SQLite implementation of the control plane's store: the embedded default, one WAL
//! file under the data dir, with its own migrations (`migrations/`, embedded at build).
//!
//! Each module owns one part of the schema; this one opens the database and maps the
//! [`Store`] trait onto them.

mod audit;
mod audited;
mod catalog;
mod changes;
mod error;
mod fleet;
mod import;
mod licensing;
mod low_priority;
mod pages;
mod policies;
mod principals;
#[cfg(test)]
mod query_plan;
mod receipts;
mod replicas;
mod requests;
mod rollouts;
mod schema;
mod sessions;
mod status_history;
mod support_bundles;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use driftless_store::LicenseTerms;
use driftless_store::{ApiToken, Applied, AuditedChange, User};
use driftless_store::{
    App, AuditEntry, AuditEvent, Change, Channel, CheckinReport, CheckinView, Customer, Heartbeat,
    ImportedInstall, Install, InstallSummary, License, Release, ReleaseState, Rollout,
    RolloutOutcomes, RolloutUpdate, Store, StoreError, StoreResult, StoredAssignment,
    StoredCheckpoint, StoredSession, SupportBundleInfo, TrustState,
};
use driftless_store::{
    AuditPage, FleetSummary, InstallCursor, InstallFilter, InstallPage, StaleCount,
};
use driftless_store::{DeliveryAttempt, NewWebhook, Webhook, WebhookDelivery, WebhookEvent};
use low_priority::LowPriority;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

/// The schema migrations, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The control plane's store on an SQLite database.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Where heartbeat batches are written (see [`low_priority`]).
    batches: std::sync::Arc<LowPriority>,
    /// Where the whole fleet is scanned for its summary and stale count (see
    /// [`low_priority`]).
    scans: std::sync::Arc<LowPriority>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` ("sqlite:///path/to/driftless.db"
    /// or "sqlite::memory:"), WAL journal, synchronous=NORMAL, foreign keys on, busy
    /// timeout 5s, runs migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid database URL `{url}`: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let mut pool = SqlitePoolOptions::new();
        if is_in_memory(url) {
            // An in-memory database lives only as long as a connection to it, and
            // several connections would share it through SQLite's shared cache, whose
            // table locks ignore the busy timeout. One connection, never recycled.
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool =
            pool.connect_with(options.clone())
                .await
                .map_err(|e| match error::backend(e) {
                    StoreError::Unavailable(cause) => {
                        StoreError::Unavailable(format!("cannot open database `{url}`: {cause}"))
                    }
                    other => StoreError::Backend(format!("cannot open database `{url}`: {other}")),
                })?;
        schema::check(&pool, &MIGRATOR).await.map_err(|e| match e {
            StoreError::Backend(why) => StoreError::Backend(format!("database `{url}`: {why}")),
            other => other,
        })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot migrate database `{url}`: {e}")))?;
        let low_priority = async |name| {
            if is_in_memory(url) {
                Ok::<_, StoreError>(LowPriority::Shared(pool.clone()))
            } else {
                LowPriority::open(options.clone(), name).await
            }
        };
        let batches = std::sync::Arc::new(low_priority("heartbeat batch").await?);
        let scans = std::sync::Arc::new(low_priority("fleet scan").await?);
        Ok(Self {
            pool,
            batches,
            scans,
        })
    }
}

/// Runs one change on a `BEGIN IMMEDIATE` transaction of its own, committed when it
/// succeeds: the same code [`audited::apply_audited`] runs with an audit entry.
macro_rules! in_transaction {
    ($store:expr, |$conn:ident| $call:expr) => {{
        let mut tx = $store
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(error::backend)?;
        let $conn: &mut sqlx::SqliteConnection = &mut tx;
        match $call.await {
            Ok(value) => {
                tx.commit().await.map_err(error::backend)?;
                Ok(value)
            }
            Err(e) => {
                // Release the connection first: an in-memory pool has only this one.
                tx.rollback().await.map_err(error::backend)?;
                Err(e)
            }
        }
    }};
}

/// Whether the URL names an in-memory database (`sqlite::memory:` or `mode=memory`).
fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        in_transaction!(self, |conn| principals::create_user(conn, user))
    }
    async fn list_users(&self) -> StoreResult<Vec<User>> {
        principals::list_users(&self.pool).await
    }
    async fn get_user(&self, name: &str) -> StoreResult<Option<User>> {
        principals::get_user(&self.pool, name).await
    }
    async fn revoke_user(&self, name: &str, now: i64) -> StoreResult<bool> {
        in_transaction!(self, |conn| principals::revoke_user(conn, name, now))
    }
    async fn create_api_token(&self, token: &ApiToken) -> StoreResult<()> {
        in_transaction!(self, |conn| principals::create_api_token(conn, token))
    }
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        principals::list_api_tokens(&self.pool).await
    }
    async fn api_token_by_hash(&self, token_sha256: &str) -> StoreResult<Option<ApiToken>> {
        principals::api_token_by_hash(&self.pool, token_sha256).await
    }
    async fn revoke_api_token(&self, id: &str, now: i64) -> StoreResult<bool> {
        in_transaction!(self, |conn| principals::revoke_api_token(conn, id, now))
    }

    async fn create_app(&self, name: &str, now: i64) -> StoreResult<App> {
        in_transaction!(self, |conn| catalog::create_app(conn, name, now))
    }
    async fn list_apps(&self) -> StoreResult<Vec<App>> {
        catalog::list_apps(&self.pool).await
    }
    async fn get_app(&self, name: &str) -> StoreResult<Option<App>> {
        catalog::get_app(&self.pool, name).await
    }

    async fn create_channel(&self, app: &str, name: &str, now: i64) -> StoreResult<Channel> {
        in_transaction!(self, |conn| catalog::create_channel(conn, app, name, now))
    }
    async fn list_channels(&self, app: &str) -> StoreResult<Vec<Channel>> {
        catalog::list_channels(&self.pool, app).await
    }
    async fn get_channel(&self, app: &str, name: &str) -> StoreResult<Option<Channel>> {
        catalog::get_channel(&self.pool, app, name).await
    }
    async fn set_channel_release(
        &self,
        app: &str,
        channel: &str,
        version: &str,
        now: i64,
    ) -> StoreResult<()> {
        in_transaction!(self, |conn| catalog::set_channel_release(
            conn, app, channel, version, now
        ))
    }

    async fn set_channel_policy(
        &self,
        app: &str,
        channel: &str,
        policy_json: &str,
        now: i64,
    ) -> StoreResult<()> {
        in_transaction!(self, |conn| policies::set_channel_policy(
            conn,
            app,
            channel,
            policy_json,
            now
        ))
    }
    async fn channel_policy(&self, app: &str, channel: &str) -> StoreResult<Option<String>> {
        policies::channel_policy(&self.pool, app, channel).await
    }
    async fn create_customer(&self, name: &str, now: i64) -> StoreResult<Customer> {
        in_transaction!(self, |conn| licensing::create_customer(conn, name, now))
    }
    async fn list_customers(&self) -> StoreResult<Vec<Customer>> {
        licensing::list_customers(&self.pool).await
    }
    async fn get_customer(&self, name: &str) -> StoreResult<Option<Customer>> {
        licensing::get_customer(&self.pool, name).await
    }

    async fn create_license(&self, license: &License) -> StoreResult<()> {
        in_transaction!(self, |conn| licensing::create_license(conn, license))
    }
    async fn license_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<License>> {
        licensing::license_by_key_hash(&self.pool, key_hash).await
    }
    async fn list_licenses(&self) -> StoreResult<Vec<License>> {
        licensing::list_licenses(&self.pool).await
    }
    async fn revoke_license(&self, id: &str, now: i64) -> StoreResult<bool> {
        in_transaction!(self, |conn| licensing::revoke_license(conn, id, now))
    }
    async fn get_license(&self, id: &str) -> StoreResult<Option<(License, LicenseTerms)>> {
        licensing::get_license(&self.pool, id).await
    }
    async fn set_license_terms(&self, id: &str, terms: &LicenseTerms) -> StoreResult<bool> {
        in_transaction!(self, |conn| licensing::set_license_terms(conn, id, terms))
    }
    async fn register_install(&self, install: &Install) -> StoreResult<bool> {
        in_transaction!(self, |conn| fleet::register_install(conn, install))
    }

    async fn insert_release(&self, release: &Release) -> StoreResult<()> {
        in_transaction!(self, |conn| catalog::insert_release(conn, release))
    }
    async fn get_release(&self, app: &str, version: &str) -> StoreResult<Option<Release>> {
        catalog::get_release(&self.pool, app, version).await
    }
    async fn list_releases(&self, app: &str) -> StoreResult<Vec<Release>> {
        catalog::list_releases(&self.pool, app).await
    }
    async fn max_release_counter(&self, app: &str) -> StoreResult<u64> {
        catalog::max_release_counter(&self.pool, app).await
    }

    async fn create_install(&self, install: &Install) -> StoreResult<()> {
        in_transaction!(self, |conn| fleet::create_install(conn, install))
    }
    async fn get_install(&self, id: &str) -> StoreResult<Option<Install>> {
        fleet::get_install(&self.pool, id).await
    }
    async fn revoke_install(&self, id: &str, now: i64) -> StoreResult<bool> {
        in_transaction!(self, |conn| fleet::revoke_install(conn, id, now))
    }
    async fn uninstall_install(&self, id: &str, now: i64) -> StoreResult<bool> {
        in_transaction!(self, |conn| fleet::uninstall_install(conn, id, now))
    }
    async fn checkin_view(&self, install_id: &str) -> StoreResult<Option<CheckinView>> {
        fleet::checkin_view(&self.pool, install_id).await
    }
    async fn record_checkin(
        &self,
        install_id: &str,
        report: &CheckinReport,
        assignment: Option<&StoredAssignment>,
    ) -> StoreResult<()> {
        fleet::record_checkin(&self.pool, install_id, report, assignment).await
    }
    async fn accept_signed_request(
        &self,
        install_id: &str,
        signed_at_ms: i64,
    ) -> StoreResult<bool> {
        requests::accept_signed_request(&self.pool, install_id, signed_at_ms).await
    }
    async fn link_receipt(
        &self,
        install_id: &str,
        previous: Option<&str>,
        sequence: i64,
        digest: &str,
    ) -> StoreResult<driftless_store::ReceiptLink> {
        in_transaction!(self, |conn| receipts::link_receipt(
            conn, install_id, previous, sequence, digest
        ))
    }
    async fn list_installs(&self, app: Option<&str>) -> StoreResult<Vec<InstallSummary>> {
        fleet::list_installs(&self.pool, app).await
    }

    async fn set_release_state(
        &self,
        app: &str,
        version: &str,
        state: ReleaseState,
    ) -> StoreResult<bool> {
        in_transaction!(self, |conn| catalog::set_release_state(
            conn, app, version, state
        ))
    }
    async fn channel_history(&self, app: &str, channel: &str) -> StoreResult<Vec<String>> {
        catalog::channel_history(&self.pool, app, channel).await
    }
    async fn move_install(&self, id: &str, channel: &str) -> StoreResult<()> {
        in_transaction!(self, |conn| fleet::move_install(conn, id, channel))
    }

    async fn create_rollout(&self, rollout: &Rollout) -> StoreResult<i64> {
        in_transaction!(self, |conn| rollouts::create_rollout(conn, rollout))
    }
    async fn active_rollout(&self, app: &str, channel: &str) -> StoreResult<Option<Rollout>> {
        rollouts::active_rollout(&self.pool, app, channel).await
    }
    async fn running_rollouts(&self) -> StoreResult<Vec<Rollout>> {
        rollouts::running_rollouts(&self.pool).await
    }
    async fn list_rollouts(&self, app: &str) -> StoreResult<Vec<Rollout>> {
        rollouts::list_rollouts(&self.pool, app).await
    }
    async fn update_rollout(&self, update: &RolloutUpdate) -> StoreResult<Rollout> {
        rollouts::update_rollout(&self.pool, update).await
    }
    async fn rollout_outcomes(
        &self,
        app: &str,
        channel: &str,
        version: &str,
    ) -> StoreResult<RolloutOutcomes> {
        rollouts::rollout_outcomes(&self.pool, app, channel, version).await
    }

    async fn apply_audited(
        &self,
        change: &AuditedChange,
        events: &[AuditEvent],
    ) -> StoreResult<Applied> {
        audited::apply_audited(&self.pool, change, events).await
    }
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        audit::append_audit(&self.pool, event).await
    }
    async fn list_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        audit::list_audit(&self.pool, limit).await
    }

    async fn list_installs_page(
        &self,
        filter: &InstallFilter,
        after: Option<&InstallCursor>,
        limit: u32,
    ) -> StoreResult<InstallPage> {
        pages::list_installs_page(&self.pool, filter, after, limit).await
    }
    async fn fleet_summary(&self, app: Option<&str>) -> StoreResult<FleetSummary> {
        self.scans
            .with(async |conn| pages::fleet_summary(conn, app).await)
            .await
    }
    async fn stale_installs(&self, seen_before: i64) -> StoreResult<Vec<StaleCount>> {
        self.scans
            .with(async |conn| pages::stale_installs(conn, seen_before).await)
            .await
    }
    async fn list_audit_page(&self, before: Option<u64>, limit: u32) -> StoreResult<AuditPage> {
        pages::list_audit_page(&self.pool, before, limit).await
    }
    async fn save_audit_checkpoint(&self, tree_size: u64, envelope: &str) -> StoreResult<bool> {
        audit::save_checkpoint(&self.pool, tree_size, envelope).await
    }
    async fn latest_audit_checkpoint(&self) -> StoreResult<Option<StoredCheckpoint>> {
        audit::latest_checkpoint(&self.pool).await
    }
    async fn publish_trust(&self, state: &TrustState) -> StoreResult<bool> {
        replicas::publish_trust(&self.pool, state).await
    }
    async fn trust_state(&self) -> StoreResult<Option<TrustState>> {
        replicas::trust_state(&self.pool).await
    }
    async fn trust_version(&self) -> StoreResult<u64> {
        replicas::trust_version(&self.pool).await
    }
    async fn put_artifact(&self, digest: &str, bytes: &[u8], now: i64) -> StoreResult<bool> {
        in_transaction!(self, |conn| replicas::put_artifact(
            conn, digest, bytes, now
        ))
    }
    async fn get_artifact(&self, digest: &str) -> StoreResult<Option<Vec<u8>>> {
        replicas::get_artifact(&self.pool, digest).await
    }
    async fn put_support_bundle(
        &self,
        install_id: &str,
        bytes: &[u8],
        digest: &str,
        now: i64,
    ) -> StoreResult<SupportBundleInfo> {
        in_transaction!(self, |conn| support_bundles::put_support_bundle(
            conn, install_id, bytes, digest, now
        ))
    }
    async fn list_support_bundles(&self, install_id: &str) -> StoreResult<Vec<SupportBundleInfo>> {
        support_bundles::list_support_bundles(&self.pool, install_id).await
    }
    async fn get_support_bundle(
        &self,
        install_id: &str,
        id: u64,
    ) -> StoreResult<Option<(SupportBundleInfo, Vec<u8>)>> {
        support_bundles::get_support_bundle(&self.pool, install_id, id).await
    }
    async fn create_webhook(&self, hook: &NewWebhook) -> StoreResult<Webhook> {
        in_transaction!(self, |conn| webhooks::create_webhook(conn, hook))
    }
    async fn list_webhooks(&self, app: Option<&str>) -> StoreResult<Vec<Webhook>> {
        webhooks::list_webhooks(&self.pool, app).await
    }
    async fn delete_webhook(&self, app: &str, id: u64) -> StoreResult<bool> {
        in_transaction!(self, |conn| webhooks::delete_webhook(conn, app, id))
    }
    async fn enqueue_webhook_event(&self, event: &WebhookEvent) -> StoreResult<Option<u64>> {
        webhooks::enqueue_webhook_event(&self.pool, event).await
    }
    async fn close_webhook_episode(&self, app: &str, kind: &str) -> StoreResult<bool> {
        webhooks::close_webhook_episode(&self.pool, app, kind).await
    }
    async fn claim_webhook_deliveries(
        &self,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        webhooks::claim_webhook_deliveries(&self.pool, holder, now_ms, lease_ms, limit).await
    }
    async fn finish_webhook_delivery(&self, attempt: &DeliveryAttempt) -> StoreResult<bool> {
        webhooks::finish_webhook_delivery(&self.pool, attempt).await
    }
    async fn list_webhook_deliveries(
        &self,
        app: &str,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        webhooks::list_webhook_deliveries(&self.pool, app, limit).await
    }
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool> {
        replicas::try_lease(&self.pool, name, holder, now_ms, ttl_ms).await
    }
    async fn import_installs(&self, installs: &[ImportedInstall]) -> StoreResult<()> {
        import::import_installs(&self.pool, installs).await
    }
    async fn put_session(&self, session: &StoredSession) -> StoreResult<()> {
        sessions::put_session(&self.pool, session).await
    }
    async fn get_session(&self, install_id: &str) -> StoreResult<Option<StoredSession>> {
        sessions::get_session(&self.pool, install_id).await
    }
    async fn record_heartbeats(&self, beats: &[Heartbeat]) -> StoreResult<()> {
        self.batches
            .with(async |conn| changes::record_heartbeats(conn, beats).await)
            .await
    }
    async fn changes_since(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<Change>> {
        changes::changes_since(&self.pool, after_seq, limit).await
    }
    async fn latest_change_seq(&self) -> StoreResult<i64> {
        changes::latest_change_seq(&self.pool).await
    }
    async fn prune_changes(&self, before: i64) -> StoreResult<u64> {
        changes::prune_changes(&self.pool, before).await
    }
    async fn status_transitions(
        &self,
        install_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<driftless_store::StatusTransition>> {
        status_history::status_transitions(&self.pool, install_id, limit).await
    }
    async fn prune_status_transitions(&self, before: i64) -> StoreResult<u64> {
        status_history::prune_status_transitions(&self.pool, before).await
    }
    async fn install_summary(&self, id: &str) -> StoreResult<Option<InstallSummary>> {
        fleet::install_summary(&self.pool, id).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn pragma<T>(store: &SqliteStore, name: &str) -> T
    where
        T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        let (value,): (T,) = sqlx::query_as(&format!("PRAGMA {name}"))
            .fetch_one(&store.pool)
            .await
            .unwrap();
        value
    }

    #[tokio::test]
    async fn file_database_is_wal_normal_with_foreign_keys_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("driftless.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        assert_eq!(pragma::<String>(&store, "journal_mode").await, "wal");
        assert_eq!(pragma::<i64>(&store, "synchronous").await, 1, "NORMAL");
        assert_eq!(pragma::<i64>(&store, "foreign_keys").await, 1);
        assert_eq!(pragma::<i64>(&store, "busy_timeout").await, 5000);
        store.create_app("acme", 1).await.unwrap();
        store.pool.close().await;

        // Reopening runs the (already applied) migrations again and keeps the data.
        let store = SqliteStore::open(&url).await.unwrap();
        assert_eq!(
            store
                .get_app("acme")
                .await
                .unwrap()
                .map(|a| a.name)
                .as_deref(),
            Some("acme")
        );
    }

    /// A database made by the first release of the schema, with one release on a channel.
    async fn database_at_first_migration(url: &str) {
        use sqlx::migrate::Migrate;
        use sqlx::Connection;

        let mut conn = sqlx::SqliteConnection::connect_with(
            &SqliteConnectOptions::from_str(url)
                .unwrap()
                .create_if_missing(true),
        )
        .await
        .unwrap();
        conn.ensure_migrations_table().await.unwrap();
        let first = MIGRATOR.iter().next().unwrap();
        assert_eq!(first.version, 1);
        conn.apply(first).await.unwrap();
        for sql in [
            "INSERT INTO apps VALUES ('acme', 1)",
            "INSERT INTO releases VALUES ('acme', '1.0.0', 1, 'sha256:00', '{}', 1)",
            "INSERT INTO channels VALUES ('acme', 'stable', '1.0.0', 7)",
            "INSERT INTO channels VALUES ('acme', 'beta', NULL, 7)",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
    }

    #[tokio::test]
    async fn upgrading_keeps_releases_active_and_seeds_channel_history() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("driftless.db").display());
        database_at_first_migration(&url).await;

        let store = SqliteStore::open(&url).await.unwrap();
        let release = store.get_release("acme", "1.0.0").await.unwrap().unwrap();
        assert_eq!(release.state, ReleaseState::Active);
        assert_eq!(
            store.channel_history("acme", "stable").await.unwrap(),
            ["1.0.0"]
        );
        assert!(store
            .channel_history("acme", "beta")
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn upgrading_keeps_the_audit_chain_and_stored_assignments() {
        use sqlx::migrate::Migrate;
        use sqlx::Connection;

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("driftless.db").display());
        let mut conn = sqlx::SqliteConnection::connect_with(
            &SqliteConnectOptions::from_str(&url)
                .unwrap()
                .create_if_missing(true),
        )
        .await
        .unwrap();
        conn.ensure_migrations_table().await.unwrap();
        for migration in MIGRATOR.iter().filter(|m| m.version <= 6) {
            conn.apply(migration).await.unwrap();
        }
        let hash = "ab".repeat(32);
        for sql in [
            "INSERT INTO apps VALUES ('acme', 1)",
            "INSERT INTO channels VALUES ('acme', 'stable', NULL, 7)",
            "INSERT INTO customers VALUES ('cust', 1)",
            "INSERT INTO licenses (id, customer, app, channel, key_hash, created_at)
             VALUES ('lic', 'cust', 'acme', 'stable', 'kh', 1)",
            "INSERT INTO installs (id, license_id, customer, app, channel, public_key, hostname,
                                   platform, created_at, assignment_sequence,
                                   assignment_release_digest, assignment_expires,
                                   assignment_etag, assignment_envelope)
             VALUES ('i-1', 'lic', 'cust', 'acme', 'stable', 'pk', 'h', 'p', 1, 3,
                     'sha256:00', 99, 'etag', '{\"old\":\"envelope\"}')",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        sqlx::query(
            "INSERT INTO audit_log VALUES (1, 5, 'operator', 'app.create', 'acme', '{}', ?1, ?2)",
        )
        .bind("0".repeat(64))
        .bind(&hash)
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();

        let store = SqliteStore::open(&url).await.unwrap();
        let audit = store.list_audit(10).await.unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].hash, hash);
        let view = store.checkin_view("i-1").await.unwrap().unwrap();
        let held = view.assignment.unwrap();
        assert_eq!(
            (held.etag.as_str(), held.envelope.as_str()),
            ("etag", "{\"old\":\"envelope\"}")
        );
        // The next entry chains onto the converted hash.
        store
            .append_audit(&AuditEvent {
                at: 6,
                actor: "operator".into(),
                action: "app.create".into(),
                subject: "b".into(),
                detail: "{}".into(),
                request_id: String::new(),
            })
            .await
            .unwrap();
        assert_eq!(store.list_audit(10).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn bad_url_names_the_url() {
        let err = SqliteStore::open("postgres://nope").await.unwrap_err();
        assert!(err.to_string().contains("postgres://nope"), "{err}");
    }
}
