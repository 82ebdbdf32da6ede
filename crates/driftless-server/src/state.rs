//! What every handler shares: the store, the online keys and the settings.

use driftless_registry_token::TokenSigner;
use driftless_store::Store;
use driftless_wire::root::RootDocument;
use driftless_wire::Envelope;
use ed25519_dalek::SigningKey;
use std::sync::{Arc, RwLock};

use crate::caching_store::{CachingStore, HotState};
use crate::metrics_store::MeteredStore;

/// Settings of a running control plane.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ServerConfig {
    /// `host:port` of the registry installs pull from.
    pub registry_host: String,
    /// Whether the registry speaks plain HTTP.
    pub registry_insecure: bool,
    /// The registry's `service` (the token audience).
    pub token_service: String,
    /// The token issuer the registry expects.
    pub token_issuer: String,
    /// Registry token lifetime in seconds (at least 20).
    pub token_lifetime_s: u64,
    /// Assignment lifetime in seconds.
    pub assignment_lifetime_s: i64,
    /// Check-in interval installs are told to use.
    pub next_checkin_s: u64,
    /// Hex SHA-256 of the operator token.
    pub operator_token_sha256: String,
    /// Seconds between passes of the rollout ticker (waves, automatic halt).
    #[serde(default = "default_rollout_tick_s")]
    pub rollout_tick_s: u64,
    /// Where uploaded artifacts (CLI binaries) live, one file per digest; `None`
    /// stores none (`/v1/artifacts/…` answers 404).
    #[serde(default)]
    pub artifacts_dir: Option<std::path::PathBuf>,
    /// Requests served at once; past it the server answers `503` with `Retry-After`
    /// at once, without queueing. `0` means no limit.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// How late the server may run, in milliseconds, before it sheds hosts' requests:
    /// while the runtime's measured lateness (how long a request waits for its turn)
    /// stays above this for a tenth of a second, a share of the hosts' requests is
    /// answered `503` with `Retry-After` at once, until it is back under. `0` sheds
    /// nothing on delay.
    #[serde(default = "default_max_queue_delay_ms")]
    pub max_queue_delay_ms: u64,
    /// Store uploaded artifacts in the database instead, so every replica serves them
    /// (`artifacts_dir` is then not used). Set by `serve`, never read from settings.
    #[serde(skip)]
    pub artifacts_in_database: bool,
    /// Lifetime of a check-in session, in seconds.
    #[serde(default = "default_session_lifetime_s")]
    pub session_lifetime_s: i64,
    /// How often pure heartbeats (check-ins that change nothing) are written, in
    /// milliseconds.
    #[serde(default = "default_heartbeat_flush_ms")]
    pub heartbeat_flush_ms: u64,
    /// How long, in seconds, a check-in may be answered from what this process keeps of
    /// an install before reading it afresh, should the change feed that drops changed
    /// entries ever be missed; `0` reads every check-in's install (one read, still no
    /// write for a heartbeat).
    #[serde(default = "default_cache_entry_ttl_s")]
    pub cache_entry_ttl_s: u64,
    /// What `/metrics` serves and who may read it.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The largest support bundle an install may upload, in bytes; a larger one is
    /// refused with `413 support_bundle_too_large`.
    #[serde(default = "default_max_support_bundle_bytes")]
    pub max_support_bundle_bytes: u64,
    /// A directory of OSV records (the OSV export format, one advisory per JSON file)
    /// that promotion gates match SBOMs against; the vendor keeps it fresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub osv_dir: Option<std::path::PathBuf>,
    /// How long installs' status transitions (the dashboard's history) are kept, in
    /// seconds.
    #[serde(default = "default_status_history_retention_s")]
    pub status_history_retention_s: i64,
    /// How often check-in answers may name a newer audit checkpoint, in seconds. Every
    /// host fetches the one named to witness the log, so this bounds that to one
    /// request per host per interval; `0` names each checkpoint as it is signed.
    #[serde(default = "default_witness_interval_s")]
    pub witness_interval_s: u64,
}

/// Settings of the `/metrics` endpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// Hex SHA-256 of the scrape token, which reads `/metrics` and nothing else; the
    /// operator token reads it too.
    pub scrape_token_sha256: Option<String>,
    /// Check-in intervals (`next_checkin_s`) without a check-in after which an install
    /// counts as stale.
    pub stale_after_checkins: u32,
    /// Seconds between two computations of the fleet and rollout gauges.
    pub aggregate_s: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            scrape_token_sha256: None,
            stale_after_checkins: 3,
            aggregate_s: 60,
        }
    }
}

impl ServerConfig {
    /// The settings a new control plane runs on, for the registry at `registry_host` and
    /// the operator token whose SHA-256 is `operator_token_sha256` (hex): every other
    /// field as `settings.toml` gives it when the field is left out, and six-hour
    /// assignments, five-minute check-ins and registry tokens.
    pub fn new(
        registry_host: impl Into<String>,
        registry_insecure: bool,
        operator_token_sha256: String,
    ) -> ServerConfig {
        ServerConfig {
            registry_host: registry_host.into(),
            registry_insecure,
            token_service: "driftless-registry".into(),
            token_issuer: "driftless".into(),
            token_lifetime_s: driftless_registry_token::DEFAULT_LIFETIME_S,
            assignment_lifetime_s: 6 * 3600,
            next_checkin_s: 300,
            operator_token_sha256,
            rollout_tick_s: default_rollout_tick_s(),
            artifacts_dir: None,
            max_in_flight: default_max_in_flight(),
            max_queue_delay_ms: default_max_queue_delay_ms(),
            artifacts_in_database: false,
            session_lifetime_s: default_session_lifetime_s(),
            heartbeat_flush_ms: default_heartbeat_flush_ms(),
            cache_entry_ttl_s: default_cache_entry_ttl_s(),
            metrics: MetricsConfig::default(),
            max_support_bundle_bytes: default_max_support_bundle_bytes(),
            osv_dir: None,
            status_history_retention_s: default_status_history_retention_s(),
            witness_interval_s: default_witness_interval_s(),
        }
    }
}

fn default_rollout_tick_s() -> u64 {
    5
}

fn default_max_in_flight() -> usize {
    1024
}

fn default_max_queue_delay_ms() -> u64 {
    5
}

/// A day.
pub fn default_session_lifetime_s() -> i64 {
    86_400
}

/// 20 MiB.
pub fn default_max_support_bundle_bytes() -> u64 {
    driftless_wire::api::DEFAULT_MAX_SUPPORT_BUNDLE_BYTES
}

/// Ninety days.
pub fn default_status_history_retention_s() -> i64 {
    90 * 86_400
}

/// An hour.
fn default_witness_interval_s() -> u64 {
    3600
}

/// A second.
pub fn default_heartbeat_flush_ms() -> u64 {
    1000
}

/// A minute.
fn default_cache_entry_ttl_s() -> u64 {
    crate::cache::DEFAULT_ENTRY_TTL.as_secs()
}

/// The keys and trust documents a running control plane signs and serves with;
/// replaced whole when a newer trust state reaches the database (a key rotation).
pub struct Keys {
    /// The online director key that signs assignments.
    pub director: SigningKey,
    /// Mints registry tokens.
    pub tokens: TokenSigner,
    /// Signs audit checkpoints; `None` when the root names no checkpoint key.
    pub checkpoint: Option<SigningKey>,
    /// Every root version, oldest first, as signed envelopes.
    pub roots: Vec<Envelope>,
    /// The newest root, decoded.
    pub root: RootDocument,
}

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// The database, seen through the check-in cache (see [`CachingStore`]).
    pub store: Arc<dyn Store>,
    /// The check-in hot path's memory.
    pub(crate) hot: Arc<HotState>,
    keys: Arc<RwLock<Arc<Keys>>>,
    /// Settings.
    pub config: Arc<ServerConfig>,
    /// What `/metrics` serves.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// How webhooks are delivered (defaults; see [`AppState::with_webhook_settings`]).
    pub webhooks: Arc<crate::webhooks::WebhookSettings>,
    /// The dashboard's sessions and counts.
    pub(crate) dashboard: Arc<crate::dashboard::DashboardState>,
    /// Vendor token lookups, each trusted for a few seconds.
    pub(crate) principals: Arc<crate::principal::PrincipalCache>,
    /// How late the server runs, and whether it sheds for it (see [`crate::load_shed`]).
    pub(crate) queue_delay: Arc<crate::load_shed::QueueDelay>,
}

impl AppState {
    /// State over `store` with `keys` and `config`.
    pub fn new(store: Arc<dyn Store>, keys: Keys, config: ServerConfig) -> Self {
        let hot = Arc::new(HotState::new(crate::cache::CheckinCache::new(
            crate::cache::MAX_INSTALL_ENTRIES,
            std::time::Duration::from_secs(config.cache_entry_ttl_s),
        )));
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let metered = Arc::new(MeteredStore::new(store, metrics.clone()));
        let queue_delay = Arc::new(crate::load_shed::QueueDelay::new(
            config.max_queue_delay_ms,
            metrics.queue_delay.clone(),
        ));
        AppState {
            store: Arc::new(CachingStore::new(metered, hot.clone())),
            hot,
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            config: Arc::new(config),
            metrics,
            webhooks: Arc::default(),
            dashboard: Arc::default(),
            principals: Arc::default(),
            queue_delay,
        }
    }

    /// The same state delivering webhooks under `settings`.
    pub fn with_webhook_settings(mut self, settings: crate::webhooks::WebhookSettings) -> Self {
        self.webhooks = Arc::new(settings);
        self
    }

    /// The keys in force now (a snapshot: a rotation does not change it under a request).
    pub fn keys(&self) -> Arc<Keys> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            // A panic while holding the lock cannot leave a half-written Arc behind.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts rotated keys in force for every request from now on.
    pub fn replace_keys(&self, keys: Keys) {
        let mut guard = match self.keys.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(keys);
    }
}

impl AppState {
    /// Writes the heartbeats answered from memory and not yet written. Call it once the
    /// server stopped taking requests ([`crate::serve`] does), so a graceful shutdown
    /// loses no last-seen time.
    pub async fn flush_heartbeats(&self) -> Result<usize, driftless_store::StoreError> {
        self.hot.heartbeats.flush(&*self.store).await
    }

    /// Reads the change feed once and drops what it made stale (the background task
    /// does it every second; tests call it to not wait).
    pub async fn follow_changes(&self) -> Result<(), driftless_store::StoreError> {
        self.hot.feed.catch_up(&*self.store, &self.hot.cache).await
    }

    /// How many installs have a heartbeat waiting to be written.
    pub fn pending_heartbeats(&self) -> usize {
        self.hot.heartbeats.len()
    }

    /// Computes the fleet and rollout gauges now (the background task does it every
    /// `metrics.aggregate_s`; tests call it to not wait).
    pub async fn aggregate_metrics(&self) -> Result<(), driftless_store::StoreError> {
        crate::metrics_fleet::aggregate(self).await
    }

    /// Checks the fleet for failure spikes now (the background task does it every
    /// `spike_check_s`; tests call it to not wait); returns how many apps' spikes were
    /// newly queued.
    pub async fn check_failure_spikes(&self) -> Result<usize, driftless_store::StoreError> {
        crate::webhooks::spike::check(self).await
    }

    /// How many installs the check-in cache holds.
    pub fn cached_installs(&self) -> usize {
        self.hot.cache.install_count()
    }
}
