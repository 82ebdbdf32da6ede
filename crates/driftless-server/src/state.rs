//! What every handler shares: the store, the online keys and the settings.

use driftless_registry_token::TokenSigner;
use driftless_store::Store;
use driftless_wire::root::RootDocument;
use driftless_wire::Envelope;
use ed25519_dalek::SigningKey;
use std::sync::Arc;

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
}

fn default_rollout_tick_s() -> u64 {
    5
}

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The online director key that signs assignments.
    pub director: Arc<SigningKey>,
    /// Mints registry tokens.
    pub tokens: Arc<TokenSigner>,
    /// Every root version, oldest first, as signed envelopes.
    pub roots: Arc<Vec<Envelope>>,
    /// The newest root, decoded.
    pub root: Arc<RootDocument>,
    /// Settings.
    pub config: Arc<ServerConfig>,
}
