//! Load shedding: past `ServerConfig::max_in_flight` requests in flight, a request is
//! answered `503` with `Retry-After` at once instead of waiting its turn, so the
//! requests already accepted keep their latency and clients back off.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

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
}

/// Runs the request if a slot is free (holding it until the response is produced),
/// else answers `503 overloaded` with `Retry-After`.
pub(crate) async fn shed(State(budget): State<InFlight>, req: Request, next: Next) -> Response {
    let Ok(_slot) = budget.permits.clone().try_acquire_owned() else {
        return overloaded(budget.limit);
    };
    next.run(req).await
}

fn overloaded(limit: usize) -> Response {
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
