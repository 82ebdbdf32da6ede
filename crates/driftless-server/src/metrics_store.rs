//! The database's figures: every [`Store`] call timed and counted by method, at the
//! boundary between the handlers' store and the database's, so the figures include
//! waiting for a pooled connection. Timing a call costs two clock reads and a
//! histogram update, next to a database round trip of tens of microseconds or more;
//! the converged check-in makes no store call at all.

use std::sync::Arc;
use std::time::Instant;

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
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::metrics::{latency_histogram, Metrics};

/// A store method's name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CallLabels {
    call: &'static str,
}

/// Store call latencies and failures, by method.
#[derive(Debug)]
pub(crate) struct StoreMetrics {
    latency: Family<CallLabels, Histogram, fn() -> Histogram>,
    errors: Family<CallLabels, Counter>,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        StoreMetrics {
            latency: Family::new_with_constructor(latency_histogram),
            errors: Family::default(),
        }
    }
}

impl StoreMetrics {
    /// Registers the families in `registry`.
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "store_call_duration_seconds",
            "Time a database call took, waiting for a pooled connection included, by store method",
            self.latency.clone(),
        );
        registry.register(
            "store_call_errors",
            "Database calls that failed, by store method",
            self.errors.clone(),
        );
    }

    fn observe<T>(&self, call: &'static str, start: Instant, result: &StoreResult<T>) {
        let labels = CallLabels { call };
        self.latency
            .get_or_create(&labels)
            .observe(start.elapsed().as_secs_f64());
        if result.is_err() {
            self.errors.get_or_create(&labels).inc();
        }
    }
}

/// [`Store`] over `inner` that times every call into [`Metrics`].
pub(crate) struct MeteredStore {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl MeteredStore {
    /// Wraps `inner`.
    pub(crate) fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        MeteredStore { inner, metrics }
    }
}

/// Calls `inner.$call(args)` and records how long it took and whether it failed.
macro_rules! timed {
    ($self:ident, $call:ident($($arg:expr),*)) => {{
        let start = Instant::now();
        let result = $self.inner.$call($($arg),*).await;
        $self.metrics.store.observe(stringify!($call), start, &result);
        result
    }};
}

#[async_trait]
impl Store for MeteredStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        timed!(self, create_user(user))
    }
    async fn list_users(&self) -> StoreResult<Vec<User>> {
        timed!(self, list_users())
    }
    async fn get_user(&self, name: &str) -> StoreResult<Option<User>> {
        timed!(self, get_user(name))
    }
    async fn revoke_user(&self, name: &str, now: i64) -> StoreResult<bool> {
        timed!(self, revoke_user(name, now))
    }
    async fn create_api_token(&self, token: &ApiToken) -> StoreResult<()> {
        timed!(self, create_api_token(token))
    }
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        timed!(self, list_api_tokens())
    }
    async fn api_token_by_hash(&self, token_sha256: &str) -> StoreResult<Option<ApiToken>> {
        timed!(self, api_token_by_hash(token_sha256))
    }
    async fn revoke_api_token(&self, id: &str, now: i64) -> StoreResult<bool> {
        timed!(self, revoke_api_token(id, now))
    }

    async fn create_app(&self, name: &str, now: i64) -> StoreResult<App> {
        timed!(self, create_app(name, now))
    }
    async fn list_apps(&self) -> StoreResult<Vec<App>> {
        timed!(self, list_apps())
    }
    async fn get_app(&self, name: &str) -> StoreResult<Option<App>> {
        timed!(self, get_app(name))
    }
    async fn create_channel(&self, app: &str, name: &str, now: i64) -> StoreResult<Channel> {
        timed!(self, create_channel(app, name, now))
    }
    async fn list_channels(&self, app: &str) -> StoreResult<Vec<Channel>> {
        timed!(self, list_channels(app))
    }
    async fn set_channel_policy(
        &self,
        app: &str,
        channel: &str,
        policy_json: &str,
        now: i64,
    ) -> StoreResult<()> {
        timed!(self, set_channel_policy(app, channel, policy_json, now))
    }
    async fn channel_policy(&self, app: &str, channel: &str) -> StoreResult<Option<String>> {
        timed!(self, channel_policy(app, channel))
    }
    async fn get_channel(&self, app: &str, name: &str) -> StoreResult<Option<Channel>> {
        timed!(self, get_channel(app, name))
    }
    async fn set_channel_release(
        &self,
        app: &str,
        channel: &str,
        version: &str,
        now: i64,
    ) -> StoreResult<()> {
        timed!(self, set_channel_release(app, channel, version, now))
    }
    async fn create_customer(&self, name: &str, now: i64) -> StoreResult<Customer> {
        timed!(self, create_customer(name, now))
    }
    async fn list_customers(&self) -> StoreResult<Vec<Customer>> {
        timed!(self, list_customers())
    }
    async fn get_customer(&self, name: &str) -> StoreResult<Option<Customer>> {
        timed!(self, get_customer(name))
    }
    async fn create_license(&self, license: &License) -> StoreResult<()> {
        timed!(self, create_license(license))
    }
    async fn license_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<License>> {
        timed!(self, license_by_key_hash(key_hash))
    }
    async fn list_licenses(&self) -> StoreResult<Vec<License>> {
        timed!(self, list_licenses())
    }
    async fn revoke_license(&self, id: &str, now: i64) -> StoreResult<bool> {
        timed!(self, revoke_license(id, now))
    }
    async fn get_license(&self, id: &str) -> StoreResult<Option<(License, LicenseTerms)>> {
        timed!(self, get_license(id))
    }
    async fn set_license_terms(&self, id: &str, terms: &LicenseTerms) -> StoreResult<bool> {
        timed!(self, set_license_terms(id, terms))
    }
    async fn register_install(&self, install: &Install) -> StoreResult<bool> {
        timed!(self, register_install(install))
    }
    async fn insert_release(&self, release: &Release) -> StoreResult<()> {
        timed!(self, insert_release(release))
    }
    async fn get_release(&self, app: &str, version: &str) -> StoreResult<Option<Release>> {
        timed!(self, get_release(app, version))
    }
    async fn list_releases(&self, app: &str) -> StoreResult<Vec<Release>> {
        timed!(self, list_releases(app))
    }
    async fn max_release_counter(&self, app: &str) -> StoreResult<u64> {
        timed!(self, max_release_counter(app))
    }
    async fn create_install(&self, install: &Install) -> StoreResult<()> {
        timed!(self, create_install(install))
    }
    async fn get_install(&self, id: &str) -> StoreResult<Option<Install>> {
        timed!(self, get_install(id))
    }
    async fn revoke_install(&self, id: &str, now: i64) -> StoreResult<bool> {
        timed!(self, revoke_install(id, now))
    }
    async fn uninstall_install(&self, id: &str, now: i64) -> StoreResult<bool> {
        timed!(self, uninstall_install(id, now))
    }
    async fn checkin_view(&self, install_id: &str) -> StoreResult<Option<CheckinView>> {
        timed!(self, checkin_view(install_id))
    }
    async fn record_checkin(
        &self,
        install_id: &str,
        report: &CheckinReport,
        assignment: Option<&StoredAssignment>,
    ) -> StoreResult<()> {
        let recorded = timed!(self, record_checkin(install_id, report, assignment));
        if recorded.is_ok() && assignment.is_some() {
            self.metrics.assignments_issued.inc();
        }
        recorded
    }
    async fn accept_signed_request(
        &self,
        install_id: &str,
        signed_at_ms: i64,
    ) -> StoreResult<bool> {
        timed!(self, accept_signed_request(install_id, signed_at_ms))
    }
    async fn link_receipt(
        &self,
        install_id: &str,
        previous: Option<&str>,
        sequence: i64,
        digest: &str,
    ) -> StoreResult<driftless_store::ReceiptLink> {
        timed!(self, link_receipt(install_id, previous, sequence, digest))
    }
    async fn list_installs(&self, app: Option<&str>) -> StoreResult<Vec<InstallSummary>> {
        timed!(self, list_installs(app))
    }
    async fn set_release_state(
        &self,
        app: &str,
        version: &str,
        state: ReleaseState,
    ) -> StoreResult<bool> {
        timed!(self, set_release_state(app, version, state))
    }
    async fn channel_history(&self, app: &str, channel: &str) -> StoreResult<Vec<String>> {
        timed!(self, channel_history(app, channel))
    }
    async fn move_install(&self, id: &str, channel: &str) -> StoreResult<()> {
        timed!(self, move_install(id, channel))
    }
    async fn create_rollout(&self, rollout: &Rollout) -> StoreResult<i64> {
        timed!(self, create_rollout(rollout))
    }
    async fn active_rollout(&self, app: &str, channel: &str) -> StoreResult<Option<Rollout>> {
        timed!(self, active_rollout(app, channel))
    }
    async fn running_rollouts(&self) -> StoreResult<Vec<Rollout>> {
        timed!(self, running_rollouts())
    }
    async fn list_rollouts(&self, app: &str) -> StoreResult<Vec<Rollout>> {
        timed!(self, list_rollouts(app))
    }
    async fn update_rollout(&self, update: &RolloutUpdate) -> StoreResult<Rollout> {
        timed!(self, update_rollout(update))
    }
    async fn rollout_outcomes(
        &self,
        app: &str,
        channel: &str,
        version: &str,
    ) -> StoreResult<RolloutOutcomes> {
        timed!(self, rollout_outcomes(app, channel, version))
    }
    async fn apply_audited(
        &self,
        change: &AuditedChange,
        events: &[AuditEvent],
    ) -> StoreResult<Applied> {
        timed!(self, apply_audited(change, events))
    }
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        timed!(self, append_audit(event))
    }
    async fn list_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        timed!(self, list_audit(limit))
    }
    async fn list_installs_page(
        &self,
        filter: &InstallFilter,
        after: Option<&InstallCursor>,
        limit: u32,
    ) -> StoreResult<InstallPage> {
        timed!(self, list_installs_page(filter, after, limit))
    }
    async fn fleet_summary(&self, app: Option<&str>) -> StoreResult<FleetSummary> {
        timed!(self, fleet_summary(app))
    }
    async fn stale_installs(&self, seen_before: i64) -> StoreResult<Vec<StaleCount>> {
        timed!(self, stale_installs(seen_before))
    }
    async fn put_support_bundle(
        &self,
        install_id: &str,
        bytes: &[u8],
        digest: &str,
        now: i64,
    ) -> StoreResult<driftless_store::SupportBundleInfo> {
        timed!(self, put_support_bundle(install_id, bytes, digest, now))
    }
    async fn list_support_bundles(
        &self,
        install_id: &str,
    ) -> StoreResult<Vec<driftless_store::SupportBundleInfo>> {
        timed!(self, list_support_bundles(install_id))
    }
    async fn get_support_bundle(
        &self,
        install_id: &str,
        id: u64,
    ) -> StoreResult<Option<(driftless_store::SupportBundleInfo, Vec<u8>)>> {
        timed!(self, get_support_bundle(install_id, id))
    }
    async fn list_audit_page(&self, before: Option<u64>, limit: u32) -> StoreResult<AuditPage> {
        timed!(self, list_audit_page(before, limit))
    }
    async fn save_audit_checkpoint(&self, tree_size: u64, envelope: &str) -> StoreResult<bool> {
        timed!(self, save_audit_checkpoint(tree_size, envelope))
    }
    async fn latest_audit_checkpoint(&self) -> StoreResult<Option<StoredCheckpoint>> {
        timed!(self, latest_audit_checkpoint())
    }
    async fn publish_trust(&self, state: &TrustState) -> StoreResult<bool> {
        timed!(self, publish_trust(state))
    }
    async fn trust_state(&self) -> StoreResult<Option<TrustState>> {
        timed!(self, trust_state())
    }
    async fn trust_version(&self) -> StoreResult<u64> {
        timed!(self, trust_version())
    }
    async fn put_artifact(&self, digest: &str, bytes: &[u8], now: i64) -> StoreResult<bool> {
        timed!(self, put_artifact(digest, bytes, now))
    }
    async fn get_artifact(&self, digest: &str) -> StoreResult<Option<Vec<u8>>> {
        timed!(self, get_artifact(digest))
    }
    async fn create_webhook(&self, hook: &NewWebhook) -> StoreResult<Webhook> {
        timed!(self, create_webhook(hook))
    }
    async fn list_webhooks(&self, app: Option<&str>) -> StoreResult<Vec<Webhook>> {
        timed!(self, list_webhooks(app))
    }
    async fn delete_webhook(&self, app: &str, id: u64) -> StoreResult<bool> {
        timed!(self, delete_webhook(app, id))
    }
    async fn enqueue_webhook_event(&self, event: &WebhookEvent) -> StoreResult<Option<u64>> {
        timed!(self, enqueue_webhook_event(event))
    }
    async fn close_webhook_episode(&self, app: &str, kind: &str) -> StoreResult<bool> {
        timed!(self, close_webhook_episode(app, kind))
    }
    async fn claim_webhook_deliveries(
        &self,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        timed!(
            self,
            claim_webhook_deliveries(holder, now_ms, lease_ms, limit)
        )
    }
    async fn finish_webhook_delivery(&self, attempt: &DeliveryAttempt) -> StoreResult<bool> {
        timed!(self, finish_webhook_delivery(attempt))
    }
    async fn list_webhook_deliveries(
        &self,
        app: &str,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        timed!(self, list_webhook_deliveries(app, limit))
    }
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool> {
        timed!(self, try_lease(name, holder, now_ms, ttl_ms))
    }
    async fn import_installs(&self, installs: &[ImportedInstall]) -> StoreResult<()> {
        timed!(self, import_installs(installs))
    }
    async fn put_session(&self, session: &StoredSession) -> StoreResult<()> {
        timed!(self, put_session(session))
    }
    async fn get_session(&self, install_id: &str) -> StoreResult<Option<StoredSession>> {
        timed!(self, get_session(install_id))
    }
    async fn record_heartbeats(&self, beats: &[Heartbeat]) -> StoreResult<()> {
        timed!(self, record_heartbeats(beats))
    }
    async fn changes_since(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<Change>> {
        timed!(self, changes_since(after_seq, limit))
    }
    async fn latest_change_seq(&self) -> StoreResult<i64> {
        timed!(self, latest_change_seq())
    }
    async fn prune_changes(&self, before: i64) -> StoreResult<u64> {
        timed!(self, prune_changes(before))
    }
    async fn status_transitions(
        &self,
        install_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<driftless_store::StatusTransition>> {
        timed!(self, status_transitions(install_id, limit))
    }
    async fn prune_status_transitions(&self, before: i64) -> StoreResult<u64> {
        timed!(self, prune_status_transitions(before))
    }
    async fn install_summary(
        &self,
        id: &str,
    ) -> StoreResult<Option<driftless_store::InstallSummary>> {
        timed!(self, install_summary(id))
    }
}
