#![allow(clippy::unwrap_used)]
//! The rollout ticker and the operator's rollout actions against the real router over
//! an in-memory SQLite store wrapped in a store that interferes: it can run one of them
//! at the moment the other has read a rollout and not yet saved its change, and it can
//! make one rollout's tick fail.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use driftless_registry_token::{generate_key_material, TokenSigner};
use driftless_server::{rollout_tick, router, AppState, Keys, ServerConfig};
use driftless_store::{ApiToken, Applied, AuditedChange, User};
use driftless_store::{
    App, AuditEntry, AuditEvent, Change, Channel, CheckinReport, CheckinView, Customer, Heartbeat,
    Install, InstallSummary, License, LicenseTerms, Release, ReleaseState, Rollout,
    RolloutOutcomes, RolloutState, RolloutUpdate, Store, StoreError, StoreResult, StoredAssignment,
    StoredSession,
};
use driftless_store::{DeliveryAttempt, NewWebhook, Webhook, WebhookDelivery, WebhookEvent};
use driftless_store_sqlite::SqliteStore;
use driftless_wire::keys::generate_signing_key;
use driftless_wire::release::ReleaseDocument;
use driftless_wire::root::{Role, RoleKeys, RootDocument};
use driftless_wire::{Digest, Envelope, PublicKey, RELEASE_PAYLOAD_TYPE, ROOT_PAYLOAD_TYPE};
use ed25519_dalek::SigningKey;
use futures_util::future::BoxFuture;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;

const OPERATOR_TOKEN: &str = "dlop_ticker_test_operator_token";
const APP: &str = "acme";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Something to run once, inside a store call made between a read of a rollout and
/// the write of its change.
type Hook = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// Where a hook runs: the ticker asks for outcomes between its read and its write, an
/// abort looks up releases (for its rollback-floor warning) between its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum At {
    RolloutOutcomes,
    GetRelease,
}

/// The SQLite store, with two ways to interfere.
struct Interfering {
    inner: SqliteStore,
    /// Runs at the next call of that method, once.
    hook: Mutex<Option<(At, Hook)>>,
    /// `rollout_outcomes` of this channel fails, as a broken database would.
    failing_channel: Mutex<Option<String>>,
}

impl Interfering {
    /// Arms `hook` to run at the next call of `at`.
    fn arm(&self, at: At, hook: Hook) {
        *self.hook.lock().unwrap() = Some((at, hook));
    }

    /// Runs the hook armed for `at`, if any.
    async fn run_hook(&self, at: At) {
        let hook = {
            let mut armed = self.hook.lock().unwrap();
            match armed.take() {
                Some((when, hook)) if when == at => Some(hook),
                other => {
                    *armed = other;
                    None
                }
            }
        };
        if let Some(hook) = hook {
            hook().await;
        }
    }
}

#[async_trait]
impl Store for Interfering {
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

    async fn rollout_outcomes(
        &self,
        app: &str,
        channel: &str,
        version: &str,
    ) -> StoreResult<RolloutOutcomes> {
        self.run_hook(At::RolloutOutcomes).await;
        if self.failing_channel.lock().unwrap().as_deref() == Some(channel) {
            return Err(StoreError::Backend(format!(
                "injected failure on {channel}"
            )));
        }
        self.inner.rollout_outcomes(app, channel, version).await
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
        self.inner
            .set_channel_release(app, channel, version, now)
            .await
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
        self.inner.revoke_license(id, now).await
    }
    async fn get_license(&self, id: &str) -> StoreResult<Option<(License, LicenseTerms)>> {
        self.inner.get_license(id).await
    }
    async fn set_license_terms(&self, id: &str, terms: &LicenseTerms) -> StoreResult<bool> {
        self.inner.set_license_terms(id, terms).await
    }
    async fn register_install(&self, install: &Install) -> StoreResult<bool> {
        self.inner.register_install(install).await
    }
    async fn insert_release(&self, release: &Release) -> StoreResult<()> {
        self.inner.insert_release(release).await
    }
    async fn get_release(&self, app: &str, version: &str) -> StoreResult<Option<Release>> {
        self.run_hook(At::GetRelease).await;
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
        self.inner.revoke_install(id, now).await
    }
    async fn uninstall_install(&self, id: &str, now: i64) -> StoreResult<bool> {
        self.inner.uninstall_install(id, now).await
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
        self.inner.set_release_state(app, version, state).await
    }
    async fn channel_history(&self, app: &str, channel: &str) -> StoreResult<Vec<String>> {
        self.inner.channel_history(app, channel).await
    }
    async fn move_install(&self, id: &str, channel: &str) -> StoreResult<()> {
        self.inner.move_install(id, channel).await
    }
    async fn create_rollout(&self, rollout: &Rollout) -> StoreResult<i64> {
        self.inner.create_rollout(rollout).await
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
        self.inner.update_rollout(update).await
    }
    async fn apply_audited(
        &self,
        change: &AuditedChange,
        events: &[AuditEvent],
    ) -> StoreResult<Applied> {
        self.inner.apply_audited(change, events).await
    }
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        self.inner.append_audit(event).await
    }
    async fn list_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.inner.list_audit(limit).await
    }
    async fn list_installs_page(
        &self,
        filter: &driftless_store::InstallFilter,
        after: Option<&driftless_store::InstallCursor>,
        limit: u32,
    ) -> StoreResult<driftless_store::InstallPage> {
        self.inner.list_installs_page(filter, after, limit).await
    }
    async fn fleet_summary(&self, app: Option<&str>) -> StoreResult<driftless_store::FleetSummary> {
        self.inner.fleet_summary(app).await
    }
    async fn stale_installs(
        &self,
        seen_before: i64,
    ) -> StoreResult<Vec<driftless_store::StaleCount>> {
        self.inner.stale_installs(seen_before).await
    }
    async fn list_audit_page(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> StoreResult<driftless_store::AuditPage> {
        self.inner.list_audit_page(before, limit).await
    }
    async fn save_audit_checkpoint(&self, tree_size: u64, envelope: &str) -> StoreResult<bool> {
        self.inner.save_audit_checkpoint(tree_size, envelope).await
    }
    async fn latest_audit_checkpoint(
        &self,
    ) -> StoreResult<Option<driftless_store::StoredCheckpoint>> {
        self.inner.latest_audit_checkpoint().await
    }
    async fn publish_trust(&self, state: &driftless_store::TrustState) -> StoreResult<bool> {
        self.inner.publish_trust(state).await
    }
    async fn trust_state(&self) -> StoreResult<Option<driftless_store::TrustState>> {
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
    async fn import_installs(
        &self,
        installs: &[driftless_store::ImportedInstall],
    ) -> StoreResult<()> {
        self.inner.import_installs(installs).await
    }
    async fn put_session(&self, session: &StoredSession) -> StoreResult<()> {
        self.inner.put_session(session).await
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
}

/// The control plane's state over an [`Interfering`] store, and that store.
async fn control_plane() -> (AppState, Arc<Interfering>) {
    let t = now();
    let root_key = generate_signing_key();
    let director = generate_signing_key();
    let material = generate_key_material("driftless registry token", t).unwrap();
    let tokens = TokenSigner::from_pem(&material.key_pem, &material.cert_pem).unwrap();
    let mut keys = BTreeMap::new();
    let mut roles = BTreeMap::new();
    for (role, key) in [(Role::Root, &root_key), (Role::Director, &director)] {
        let public = PublicKey::from_signing_key(key);
        let keyids = vec![public.key_id()];
        keys.insert(public.key_id(), public);
        roles.insert(
            role,
            RoleKeys {
                keyids,
                threshold: 1,
            },
        );
    }
    let root = RootDocument {
        doc_type: "root".into(),
        version: 1,
        expires: t + 86400,
        keys,
        roles,
        registry_token_cert_sha256: None,
        checkpoint: None,
    };
    let payload = serde_json::to_vec(&root).unwrap();
    let envelope = Envelope::sign(ROOT_PAYLOAD_TYPE, &payload, &[&root_key]);
    let store = Arc::new(Interfering {
        inner: SqliteStore::open("sqlite::memory:").await.unwrap(),
        hook: Mutex::new(None),
        failing_channel: Mutex::new(None),
    });
    let config = ServerConfig {
        assignment_lifetime_s: 3600,
        rollout_tick_s: 3600,
        ..ServerConfig::new(
            "127.0.0.1:5000",
            true,
            hex::encode(Sha256::digest(OPERATOR_TOKEN.as_bytes())),
        )
    };
    let keys = Keys {
        director,
        tokens,
        checkpoint: None,
        roots: vec![envelope],
        root,
    };
    let state = AppState::new(store.clone(), keys, config);
    (state, store)
}

/// A stored release `version` of `APP` with counter `counter`, signed by `key`.
fn release(version: &str, counter: u64, key: &SigningKey) -> Release {
    let t = now();
    let doc = ReleaseDocument {
        version: version.parse().unwrap(),
        created_at: t,
        expires: t + 86400,
        ..driftless_trust_fixtures::release_doc_of(APP, counter, 0)
    };
    let payload = serde_json::to_vec(&doc).unwrap();
    let envelope = Envelope::sign(RELEASE_PAYLOAD_TYPE, &payload, &[key]);
    Release {
        app: APP.into(),
        version: version.into(),
        release_counter: counter,
        digest: Digest::of(&payload).to_string(),
        envelope: serde_json::to_string(&envelope).unwrap(),
        created_at: t,
        state: ReleaseState::Active,
    }
}

/// `APP` with 1.0.0 and 2.0.0, and on each of `channels` 1.0.0 and a running rollout
/// of 2.0.0 in waves `waves`, opened `interval_s` ago; returns the rollouts.
async fn rollouts_due(store: &Interfering, channels: &[&str], waves: &[u32]) -> Vec<Rollout> {
    let t = now();
    store.create_app(APP, t).await.unwrap();
    let key = generate_signing_key();
    store
        .insert_release(&release("1.0.0", 1, &key))
        .await
        .unwrap();
    store
        .insert_release(&release("2.0.0", 2, &key))
        .await
        .unwrap();
    let mut out = Vec::new();
    for channel in channels {
        store.create_channel(APP, channel, t).await.unwrap();
        store
            .set_channel_release(APP, channel, "1.0.0", t)
            .await
            .unwrap();
        let rollout = Rollout {
            id: 0,
            app: APP.into(),
            channel: (*channel).into(),
            version: "2.0.0".into(),
            previous_version: Some("1.0.0".into()),
            waves: waves.to_vec(),
            wave_index: 0,
            wave_started_at: t - 60,
            interval_s: Some(60),
            state: RolloutState::Running,
            min_failures: 3,
            max_failure_pct: 20,
            reason: None,
            created_at: t - 60,
            updated_at: t - 60,
            revision: 0,
        };
        let id = store.create_rollout(&rollout).await.unwrap();
        out.push(Rollout { id, ..rollout });
    }
    out
}

/// An operator's `action` on the rollout of `channel`, through the router: the status
/// and the JSON body.
async fn operator_action(state: &AppState, channel: &str, action: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!(
            "/v1/apps/{APP}/channels/{channel}/rollout/{action}"
        ))
        .header(header::AUTHORIZATION, format!("Bearer {OPERATOR_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

/// The actions of the audit log, newest first.
async fn audit_actions(store: &Interfering) -> Vec<String> {
    let log = store.list_audit(10).await.unwrap();
    log.into_iter().map(|e| e.event.action).collect()
}

#[tokio::test]
async fn an_abort_racing_a_wave_tick_leaves_the_channel_on_the_previous_release() {
    let (state, store) = control_plane().await;
    // One wave, due: the tick would complete the rollout and point the channel at 2.0.0.
    rollouts_due(&store, &["stable"], &[100]).await;
    let (abort_state, aborted) = (state.clone(), Arc::new(Mutex::new(None)));
    let status = Arc::clone(&aborted);
    let abort: Hook = Box::new(move || {
        Box::pin(async move {
            let (answer, _) = operator_action(&abort_state, "stable", "abort").await;
            *status.lock().unwrap() = Some(answer);
        })
    });
    store.arm(At::RolloutOutcomes, abort);

    let failed = rollout_tick(&state, now()).await.unwrap();
    assert_eq!(
        *aborted.lock().unwrap(),
        Some(StatusCode::OK),
        "the abort ran between the tick's read and its write"
    );
    assert_eq!(
        failed, 0,
        "a rollout that changed under the tick is not a failure"
    );
    let channel = store.get_channel(APP, "stable").await.unwrap().unwrap();
    assert_eq!(channel.version.as_deref(), Some("1.0.0"));
    let rollouts = store.list_rollouts(APP).await.unwrap();
    assert_eq!(rollouts[0].state, RolloutState::Aborted, "{rollouts:?}");
    assert_eq!(
        audit_actions(&store).await,
        ["rollout.abort"],
        "the stale completion left no entry"
    );

    // The next tick has nothing left to do: an aborted rollout is not running.
    assert_eq!(rollout_tick(&state, now()).await.unwrap(), 0);
    let channel = store.get_channel(APP, "stable").await.unwrap().unwrap();
    assert_eq!(channel.version.as_deref(), Some("1.0.0"));
}

#[tokio::test]
async fn an_abort_racing_a_wave_tick_the_other_way_round_is_refused_with_409() {
    let (state, store) = control_plane().await;
    rollouts_due(&store, &["stable"], &[10, 100]).await;
    // The abort has read the rollout; the tick opens the next wave before it saves.
    let tick_state = state.clone();
    let tick: Hook = Box::new(move || {
        Box::pin(async move {
            assert_eq!(rollout_tick(&tick_state, now()).await.unwrap(), 0);
        })
    });
    store.arm(At::GetRelease, tick);

    let (status, body) = operator_action(&state, "stable", "abort").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "rollout_changed", "{body}");
    assert!(
        body["hint"].as_str().unwrap().contains("rollout list"),
        "{body}"
    );
    let r = store.active_rollout(APP, "stable").await.unwrap().unwrap();
    assert_eq!(
        (r.state, r.wave_index),
        (RolloutState::Running, 1),
        "the tick's wave stands"
    );
    assert_eq!(audit_actions(&store).await, ["rollout.advance"]);

    // Repeated on a fresh read, the abort goes through.
    let (status, body) = operator_action(&state, "stable", "abort").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "aborted", "{body}");
    let channel = store.get_channel(APP, "stable").await.unwrap().unwrap();
    assert_eq!(channel.version.as_deref(), Some("1.0.0"));
}

#[tokio::test]
async fn one_failing_rollout_does_not_stop_the_ticker_from_advancing_the_others() {
    let (state, store) = control_plane().await;
    let due = rollouts_due(&store, &["stable", "beta"], &[10, 100]).await;
    assert!(due[0].id < due[1].id, "the failing rollout is ticked first");
    *store.failing_channel.lock().unwrap() = Some("stable".into());

    assert_eq!(rollout_tick(&state, now()).await.unwrap(), 1, "one failed");
    let wave_of = |channel: &'static str| {
        let store = Arc::clone(&store);
        async move {
            let r = store.active_rollout(APP, channel).await.unwrap().unwrap();
            r.wave_index
        }
    };
    assert_eq!(wave_of("beta").await, 1, "beta advanced past the failure");
    assert_eq!(
        wave_of("stable").await,
        0,
        "stable's step failed: unchanged"
    );

    // Once its store answers again, the failed one advances on the next tick.
    *store.failing_channel.lock().unwrap() = None;
    assert_eq!(rollout_tick(&state, now()).await.unwrap(), 0);
    assert_eq!(wave_of("stable").await, 1);
}
