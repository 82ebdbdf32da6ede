//! What every handler shares: the store, the online keys and the settings.

use driftless_registry_token::TokenSigner;
use driftless_store::Store;
use driftless_wire::root::RootDocument;
use driftless_wire::Envelope;
use ed25519_dalek::SigningKey;
use std::sync::{Arc, RwLock};

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
    /// Registry token lifetime in seconds (at least 60).
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
    /// Store uploaded artifacts in the database instead, so every replica serves them
    /// (`artifacts_dir` is then not used). Set by `serve`, never read from settings.
    #[serde(skip)]
    pub artifacts_in_database: bool,
}

fn default_rollout_tick_s() -> u64 {
    5
}

fn default_max_in_flight() -> usize {
    1024
}

/// The keys and trust documents a running control plane signs and serves with;
/// replaced whole when a newer trust state reaches the database (a key rotation).
pub struct Keys {
    /// The online director key that signs assignments.
    pub director: SigningKey,
    /// Mints registry tokens.
    pub tokens: TokenSigner,
    /// Every root version, oldest first, as signed envelopes.
    pub roots: Vec<Envelope>,
    /// The newest root, decoded.
    pub root: RootDocument,
}

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    keys: Arc<RwLock<Arc<Keys>>>,
    /// Settings.
    pub config: Arc<ServerConfig>,
}

impl AppState {
    /// State over `store` with `keys` and `config`.
    pub fn new(store: Arc<dyn Store>, keys: Keys, config: ServerConfig) -> Self {
        AppState {
            store,
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            config: Arc::new(config),
        }
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
