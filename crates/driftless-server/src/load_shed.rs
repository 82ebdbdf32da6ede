//! Load shedding: past `ServerConfig::max_in_flight` requests in flight, a request is
//! answered `503` with `Retry-After` at once instead of waiting its turn, so the
//! requests already accepted keep their latency and clients back off.

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Seconds a shed client is asked to wait; the agent adds its own jitter.
pub const RETRY_AFTER_S: u64 = 1;

/// The in-flight budget shared by every request of one router.
#[derive(Clone)]
pub(crate) struct InFlight {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl InFlight {
    /// A budget of `limit` requests; `None` for 0 (no limit).
    pub(crate) fn new(limit: usize) -> Option<Self> {
        (limit > 0).then(|| InFlight {
            permits: Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS))),
            limit,
        })
    }

    /// A slot, held until the request is answered; `None` when all are taken.
    pub(crate) fn try_acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// The number of requests served at once.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

/// The `503 overloaded` answer of a router limited to `limit` requests at once.
pub(crate) fn overloaded(limit: usize) -> Response {
    let error = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        format!("the control plane is serving its limit of {limit} requests at once"),
    )
    .with_hint(format!("retry after {RETRY_AFTER_S}s (Retry-After)"));
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
    response
}
