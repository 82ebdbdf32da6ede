//! The Driftless control plane: the vendor API, the install API (registration and
//! check-in), the registry token endpoint, and the trust documents installs verify.
//!
//! Stateless apart from the [`driftless_store::Store`] it is given, so several replicas
//! can serve one database.

#[macro_use]
mod access;
mod audit_checkpoint;
mod audit_witness;
mod auth;
mod cache;
mod caching_store;
mod change_feed;
mod checkin;
mod dashboard;
mod error;
mod gate;
mod heartbeats;
mod license_terms;
mod load_shed;
pub mod log_format;
mod metrics;
mod metrics_fleet;
mod metrics_process;
mod metrics_store;
mod password;
mod principal;
mod registry;
mod registry_login;
mod registry_renewal;
mod report_limits;
mod request_context;
mod rollback_floor;
mod rollout;
mod routes;
mod session;
mod state;
mod trust_sync;
mod upkeep;
mod webhooks;

pub use access::{Access, Need, RouteRule};
pub use error::ApiError;
pub use load_shed::RETRY_AFTER_S;
pub use metrics::Metrics;
pub use metrics_fleet::spawn as spawn_metrics_aggregate;
pub use principal::{Role, CACHE_TTL as PRINCIPAL_CACHE_TTL};
pub use rollout::{seed, tick as rollout_tick, SEED_SPACE};
pub use routes::route_rules;
pub use state::{
    default_heartbeat_flush_ms, default_max_support_bundle_bytes, default_session_lifetime_s,
    default_status_history_retention_s, AppState, Keys, MetricsConfig, ServerConfig,
};
pub use trust_sync::{adopt_newest_trust, keys_from_trust, TrustStateError};
pub use upkeep::spawn as spawn_upkeep;
pub use webhooks::WebhookSettings;

use axum::Router;
use std::time::{SystemTime, UNIX_EPOCH};

/// The largest request body any route accepts.
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// The control plane's routes over `state`, shedding load past
/// `state.config.max_in_flight` requests in flight, and hosts' requests while the
/// server runs later than `state.config.max_queue_delay_ms` (measured by [`serve`]'s
/// probe; see [`load_shed`]); every request,
/// a shed one too, is logged with its request id and trace and counted and timed (see
/// [`request_context`] and [`metrics`]).
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_in_flight;
    let metrics = state.metrics.clone();
    let queue = state.queue_delay.clone();
    let routes = routes::router(state);
    routes.layer(request_context::RequestLayer::new(
        metrics,
        load_shed::InFlight::new(limit),
        queue,
    ))
}

/// Serves `router(state)` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tick = std::time::Duration::from_secs(state.config.rollout_tick_s.max(1));
    let ticker = rollout::spawn_ticker(state.clone(), tick);
    let upkeep = upkeep::spawn(state.clone());
    let aggregate = metrics_fleet::spawn(state.clone());
    let webhook_sender = webhooks::delivery::spawn(state.clone());
    let spike_check = webhooks::spike::spawn(state.clone());
    let delay_probe = load_shed::spawn_probe(state.queue_delay.clone());
    let result = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    ticker.abort();
    upkeep.abort();
    aggregate.abort();
    webhook_sender.abort();
    spike_check.abort();
    if let Some(probe) = delay_probe {
        probe.abort();
    }
    // Requests stopped: write the heartbeats answered from memory.
    if let Err(e) = state.flush_heartbeats().await {
        tracing::error!(error = %e, "cannot write the last heartbeats at shutdown");
    }
    result
}

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
