//! The store the handlers use: the database, plus the check-in cache kept in step
//! with it. After every mutation that can change a check-in's answer it reads the
//! change feed the mutation's own transaction wrote and drops what went stale, before
//! returning, so a `promote` followed at once by a check-in sees the new release.

use std::sync::Arc;

use async_trait::async_trait;
use driftless_store::LicenseTerms;
use driftless_store::{ApiToken, Applied, AuditedChange, User};
use driftless_store::{
    App, AuditEntry, AuditEvent, AuditPage, Change, Channel, CheckinReport, CheckinView, Customer,
    FleetSummary, Heartbeat, ImportedInstall, Install, InstallCursor, InstallFilter, InstallPage,
    InstallSummary, License, Release, ReleaseState, Rollout, RolloutOutcomes, RolloutUpdate,
    StaleCount, Store, StoreResult, StoredAssignment, StoredCheckpoint, StoredSession, TrustState,
};
use driftless_store::{DeliveryAttempt, NewWebhook, Webhook, WebhookDelivery, WebhookEvent};

use crate::cache::CheckinCache;
use crate::change_feed::FeedCursor;

/// Everything the check-in hot path keeps in memory.
pub struct HotState {
    /// Installs and channels.
    pub cache: CheckinCache,
    /// Where this process is in the change feed.
    pub feed: FeedCursor,
    /// Heartbeats waiting to be written.
    pub heartbeats: crate::heartbeats::HeartbeatQueue,
    /// The tree size of the newest audit checkpoint, as the upkeep last read it (0:
    /// none), for the check-in answer's header.
    pub audit_checkpoint_size: std::sync::atomic::AtomicU64,
    /// When [`HotState::audit_checkpoint_size`] last changed: it changes at most once
    /// per `witness_interval_s`, since every host fetches the checkpoint it names.
    pub audit_checkpoint_named_at: std::sync::Mutex<Option<std::time::Instant>>,
}

impl HotState {
    /// Empty, around `cache`.
    pub fn new(cache: CheckinCache) -> Self {
        HotState {
            cache,
            feed: FeedCursor::default(),
            heartbeats: crate::heartbeats::HeartbeatQueue::default(),
            audit_checkpoint_size: std::sync::atomic::AtomicU64::new(0),
            audit_checkpoint_named_at: std::sync::Mutex::new(None),
        }
    }
}

/// [`Store`] over `inner` that keeps [`HotState`]'s cache in step.
pub struct CachingStore {
    inner: Arc<dyn Store>,
    hot: Arc<HotState>,
}

impl CachingStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>, hot: Arc<HotState>) -> Self {
        CachingStore { inner, hot }
    }

    /// Reads the change feed after a successful mutation. The mutation is committed
    /// whatever happens here; should the feed not be readable, the whole cache goes,
    /// so nothing stale is served.
    async fn caught_up(&self) {
        if let Err(e) = self.hot.feed.catch_up(&*self.inner, &self.hot.cache).await {
            tracing::warn!(error = %e, "cannot read the change feed; dropping the check-in cache");
            self.hot.cache.clear();
        }
    }
}

#[async_trait]
impl Store for CachingStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.inner.create_user(user).await
    }
    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.inner.list_users().await
    }
    async fn get_user(&self, name: &str) -> StoreResult<Option<User>> {
        self.inner.get_user(name).await
    }
    async fn revoke_user(&self, name: &str, now: i64) -> StoreResult<bool> {
        self.inner.revoke_user(name, now).await
    }
    async fn create_api_token(&self, token: &ApiToken) -> StoreResult<()> {
        self.inner.create_api_token(token).await
    }
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        self.inner.list_api_tokens().await
    }
    async fn api_token_by_hash(&self, token_sha256: &str) -> StoreResult<Option<ApiToken>> {
        self.inner.api_token_by_hash(token_sha256).await
    }
    async fn revoke_api_token(&self, id: &str, now: i64) -> StoreResult<bool> {
        self.inner.revoke_api_token(id, now).await
    }

    async fn create_app(&self, name: &str, now: i64) -> StoreResult<App> {
        self.inner.create_app(name, now).await
    }
    async fn list_apps(&self) -> StoreResult<Vec<App>> {
        self.inner.list_apps().await
    }
    async fn get_app(&self, name: &str) -> StoreResult<Option<App>> {
        self.inner.get_app(name).await
    }
    async fn create_channel(&self, app: &str, name: &str, now: i64) -> StoreResult<Channel> {
        self.inner.create_channel(app, name, now).await
    }
    async fn list_channels(&self, app: &str) -> StoreResult<Vec<Channel>> {
        self.inner.list_channels(app).await
    }
    async fn set_channel_policy(
        &self,
        app: &str,
        channel: &str,
        policy_json: &str,
        now: i64,
    ) -> StoreResult<()> {
        self.inner
            .set_channel_policy(app, channel, policy_json, now)
            .await
    }
    async fn channel_policy(&self, app: &str, channel: &str) -> StoreResult<Option<String>> {
        self.inner.channel_policy(app, channel).await
    }
    async fn get_channel(&self, app: &str, name: &str) -> StoreResult<Option<Channel>> {
        self.inner.get_channel(app, name).await
    }
    async fn set_channel_release(
        &self,
        app: &str,
        channel: &str,
        version: &str,
        now: i64,
    ) -> StoreResult<()> {
        let out = self
            .inner
            .set_channel_release(app, channel, version, now)
            .await?;
        self.caught_up().await;
        Ok(out)
    }
    async fn create_customer(&self, name: &str, now: i64) -> StoreResult<Customer> {
        self.inner.create_customer(name, now).await
    }
    async fn list_customers(&self) -> StoreResult<Vec<Customer>> {
        self.inner.list_customers().await
    }
    async fn get_customer(&self, name: &str) -> StoreResult<Option<Customer>> {
        self.inner.get_customer(name).await
    }
    async fn create_license(&self, license: &License) -> StoreResult<()> {
        self.inner.create_license(license).await
    }
    async fn license_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<License>> {
        self.inner.license_by_key_hash(key_hash).await
    }
    async fn list_licenses(&self) -> StoreResult<Vec<License>> {
        self.inner.list_licenses().await
    }
    async fn revoke_license(&self, id: &str, now: i64) -> StoreResult<bool> {
        let out = self.inner.revoke_license(id, now).await?;
        self.caught_up().await;
        Ok(out)
    }
    async fn get_license(&self, id: &str) -> StoreResult<Option<(License, LicenseTerms)>> {
        self.inner.get_license(id).await
    }
    async fn set_license_terms(&self, id: &str, terms: &LicenseTerms) -> StoreResult<bool> {
        let out = self.inner.set_license_terms(id, terms).await?;
        self.caught_up().await;
        Ok(out)
    }
    async fn register_install(&self, install: &Install) -> StoreResult<bool> {
        self.inner.register_install(install).await
    }
    async fn insert_release(&self, release: &Release) -> StoreResult<()> {
        self.inner.insert_release(release).await
    }
    async fn get_release(&self, app: &str, version: &str) -> StoreResult<Option<Release>> {
        self.inner.get_release(app, version).await
    }
    async fn list_releases(&self, app: &str) -> StoreResult<Vec<Release>> {
        self.inner.list_releases(app).await
    }
    async fn max_release_counter(&self, app: &str) -> StoreResult<u64> {
        self.inner.max_release_counter(app).await
    }
    async fn create_install(&self, install: &Install) -> StoreResult<()> {
        self.inner.create_install(install).await
    }
    async fn get_install(&self, id: &str) -> StoreResult<Option<Install>> {
        self.inner.get_install(id).await
    }
    async fn revoke_install(&self, id: &str, now: i64) -> StoreResult<bool> {
        let out = self.inner.revoke_install(id, now).await?;
        self.caught_up().await;
        Ok(out)
    }
    async fn uninstall_install(&self, id: &str, now: i64) -> StoreResult<bool> {
        let out = self.inner.uninstall_install(id, now).await?;
        self.caught_up().await;
        Ok(out)
    }
    async fn checkin_view(&self, install_id: &str) -> StoreResult<Option<CheckinView>> {
        self.inner.checkin_view(install_id).await
    }
    async fn record_checkin(
        &self,
        install_id: &str,
        report: &CheckinReport,
        assignment: Option<&StoredAssignment>,
    ) -> StoreResult<()> {
        self.inner
            .record_checkin(install_id, report, assignment)
            .await
    }
    async fn accept_signed_request(
        &self,
        install_id: &str,
        signed_at_ms: i64,
    ) -> StoreResult<bool> {
        self.inner
            .accept_signed_request(install_id, signed_at_ms)
            .await
    }
    async fn link_receipt(
        &self,
        install_id: &str,
        previous: Option<&str>,
        sequence: i64,
        digest: &str,
    ) -> StoreResult<driftless_store::ReceiptLink> {
        self.inner
            .link_receipt(install_id, previous, sequence, digest)
            .await
    }
    async fn list_installs(&self, app: Option<&str>) -> StoreResult<Vec<InstallSummary>> {
        self.inner.list_installs(app).await
    }
    async fn set_release_state(
        &self,
        app: &str,
        version: &str,
        state: ReleaseState,
    ) -> StoreResult<bool> {
        let out = self.inner.set_release_state(app, version, state).await?;
        self.caught_up().await;
        Ok(out)
    }
    async fn channel_history(&self, app: &str, channel: &str) -> StoreResult<Vec<String>> {
        self.inner.channel_history(app, channel).await
    }
    async fn move_install(&self, id: &str, channel: &str) -> StoreResult<()> {
        let out = self.inner.move_install(id, channel).await?;
        self.caught_up().await;
        Ok(out)
    }
    async fn create_rollout(&self, rollout: &Rollout) -> StoreResult<i64> {
        let out = self.inner.create_rollout(rollout).await?;
        self.caught_up().await;
        Ok(out)
    }
    async fn active_rollout(&self, app: &str, channel: &str) -> StoreResult<Option<Rollout>> {
        self.inner.active_rollout(app, channel).await
    }
    async fn running_rollouts(&self) -> StoreResult<Vec<Rollout>> {
        self.inner.running_rollouts().await
    }
    async fn list_rollouts(&self, app: &str) -> StoreResult<Vec<Rollout>> {
        self.inner.list_rollouts(app).await
    }
    async fn update_rollout(&self, update: &RolloutUpdate) -> StoreResult<Rollout> {
        let out = self.inner.update_rollout(update).await?;
        self.caught_up().await;
        Ok(out)
    }
    async fn rollout_outcomes(
        &self,
        app: &str,
        channel: &str,
        version: &str,
    ) -> StoreResult<RolloutOutcomes> {
        self.inner.rollout_outcomes(app, channel, version).await
    }
    async fn apply_audited(
        &self,
        change: &AuditedChange,
        events: &[AuditEvent],
    ) -> StoreResult<Applied> {
        let applied = self.inner.apply_audited(change, events).await?;
        if applied.happened() {
            self.caught_up().await;
        }
        Ok(applied)
    }
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        self.inner.append_audit(event).await
    }
    async fn list_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.inner.list_audit(limit).await
    }
    async fn put_session(&self, session: &StoredSession) -> StoreResult<()> {
        let out = self.inner.put_session(session).await?;
        self.caught_up().await;
        Ok(out)
    }
    async fn get_session(&self, install_id: &str) -> StoreResult<Option<StoredSession>> {
        self.inner.get_session(install_id).await
    }
    async fn record_heartbeats(&self, beats: &[Heartbeat]) -> StoreResult<()> {
        self.inner.record_heartbeats(beats).await
    }
    async fn changes_since(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<Change>> {
        self.inner.changes_since(after_seq, limit).await
    }
    async fn latest_change_seq(&self) -> StoreResult<i64> {
        self.inner.latest_change_seq().await
    }
    async fn prune_changes(&self, before: i64) -> StoreResult<u64> {
        self.inner.prune_changes(before).await
    }
    async fn status_transitions(
        &self,
        install_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<driftless_store::StatusTransition>> {
        self.inner.status_transitions(install_id, limit).await
    }
    async fn prune_status_transitions(&self, before: i64) -> StoreResult<u64> {
        self.inner.prune_status_transitions(before).await
    }
    async fn install_summary(
        &self,
        id: &str,
    ) -> StoreResult<Option<driftless_store::InstallSummary>> {
        self.inner.install_summary(id).await
    }
    async fn list_installs_page(
        &self,
        filter: &InstallFilter,
        after: Option<&InstallCursor>,
        limit: u32,
    ) -> StoreResult<InstallPage> {
        self.inner.list_installs_page(filter, after, limit).await
    }
    async fn fleet_summary(&self, app: Option<&str>) -> StoreResult<FleetSummary> {
        self.inner.fleet_summary(app).await
    }
    async fn stale_installs(&self, seen_before: i64) -> StoreResult<Vec<StaleCount>> {
        self.inner.stale_installs(seen_before).await
    }
    async fn list_audit_page(&self, before: Option<u64>, limit: u32) -> StoreResult<AuditPage> {
        self.inner.list_audit_page(before, limit).await
    }
    async fn save_audit_checkpoint(&self, tree_size: u64, envelope: &str) -> StoreResult<bool> {
        self.inner.save_audit_checkpoint(tree_size, envelope).await
    }
    async fn latest_audit_checkpoint(&self) -> StoreResult<Option<StoredCheckpoint>> {
        self.inner.latest_audit_checkpoint().await
    }
    async fn publish_trust(&self, state: &TrustState) -> StoreResult<bool> {
        self.inner.publish_trust(state).await
    }
    async fn trust_state(&self) -> StoreResult<Option<TrustState>> {
        self.inner.trust_state().await
    }
    async fn trust_version(&self) -> StoreResult<u64> {
        self.inner.trust_version().await
    }
    async fn put_artifact(&self, digest: &str, bytes: &[u8], now: i64) -> StoreResult<bool> {
        self.inner.put_artifact(digest, bytes, now).await
    }
    async fn get_artifact(&self, digest: &str) -> StoreResult<Option<Vec<u8>>> {
        self.inner.get_artifact(digest).await
    }
    // Support bundles are read from the database on every request: nothing to cache.
    async fn put_support_bundle(
        &self,
        install_id: &str,
        bytes: &[u8],
        digest: &str,
        now: i64,
    ) -> StoreResult<driftless_store::SupportBundleInfo> {
        self.inner
            .put_support_bundle(install_id, bytes, digest, now)
            .await
    }
    async fn list_support_bundles(
        &self,
        install_id: &str,
    ) -> StoreResult<Vec<driftless_store::SupportBundleInfo>> {
        self.inner.list_support_bundles(install_id).await
    }
    async fn get_support_bundle(
        &self,
        install_id: &str,
        id: u64,
    ) -> StoreResult<Option<(driftless_store::SupportBundleInfo, Vec<u8>)>> {
        self.inner.get_support_bundle(install_id, id).await
    }
    async fn create_webhook(&self, hook: &NewWebhook) -> StoreResult<Webhook> {
        self.inner.create_webhook(hook).await
    }
    async fn list_webhooks(&self, app: Option<&str>) -> StoreResult<Vec<Webhook>> {
        self.inner.list_webhooks(app).await
    }
    async fn delete_webhook(&self, app: &str, id: u64) -> StoreResult<bool> {
        self.inner.delete_webhook(app, id).await
    }
    async fn enqueue_webhook_event(&self, event: &WebhookEvent) -> StoreResult<Option<u64>> {
        self.inner.enqueue_webhook_event(event).await
    }
    async fn close_webhook_episode(&self, app: &str, kind: &str) -> StoreResult<bool> {
        self.inner.close_webhook_episode(app, kind).await
    }
    async fn claim_webhook_deliveries(
        &self,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        self.inner
            .claim_webhook_deliveries(holder, now_ms, lease_ms, limit)
            .await
    }
    async fn finish_webhook_delivery(&self, attempt: &DeliveryAttempt) -> StoreResult<bool> {
        self.inner.finish_webhook_delivery(attempt).await
    }
    async fn list_webhook_deliveries(
        &self,
        app: &str,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        self.inner.list_webhook_deliveries(app, limit).await
    }
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool> {
        self.inner.try_lease(name, holder, now_ms, ttl_ms).await
    }
    async fn import_installs(&self, installs: &[ImportedInstall]) -> StoreResult<()> {
        self.inner.import_installs(installs).await?;
        self.caught_up().await;
        Ok(())
    }
}
