//! Every request's context in the log: a request id (the caller's valid `X-Request-Id`,
//! else a new one), the W3C trace it belongs to (the caller's valid `traceparent`, else
//! a new trace) and a span of its own. Every log line written while the request is
//! handled carries them through the `request` span; one access line at the end adds the
//! route template, the status and the latency. The response carries `X-Request-Id`
//! and a `traceparent` naming the control plane's span.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use driftless_wire::trace_context::{
    is_valid_request_id, SpanId, TraceId, TraceParent, REQUEST_ID_HEADER, TRACEPARENT_HEADER,
};
use tracing::Instrument as _;

use crate::metrics::Metrics;

tokio::task_local! {
    /// The request id of the request this task serves, for the audit entries it writes.
    static REQUEST_ID: String;
}

/// The id of the request the calling task serves; empty outside a request (the
/// control plane's own work, such as rollout ticks).
pub(crate) fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// The route template of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// Runs the request inside its `request` span, logs its access line and counts it in
/// `metrics` (one layer for both, so a request pays for one middleware, not two).
pub(crate) async fn track(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request_id(req.headers());
    let caller = trace_parent(req.headers());
    let ours = TraceParent {
        trace_id: caller.map_or_else(TraceId::random, |c| c.trace_id),
        parent_id: SpanId::random(),
        flags: caller.map_or(driftless_wire::trace_context::FLAG_SAMPLED, |c| c.flags),
    };
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        trace_id = %ours.trace_id,
        span_id = %ours.parent_id,
        parent_span_id = tracing::field::Empty,
    );
    if let Some(c) = caller {
        span.record("parent_span_id", tracing::field::display(c.parent_id));
    }
    // The answer's header is made now so the id itself can move into the task-local.
    let id_header = HeaderValue::from_str(&request_id).ok();
    let mut response = REQUEST_ID
        .scope(request_id, next.run(req).instrument(span.clone()))
        .await;
    let route = matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    metrics.record(&method, route, &response, started);
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        tracing::info!(
            target: "driftless_server::access",
            method = %method,
            route = %route,
            status = response.status().as_u16(),
            latency_ms,
            "request served"
        );
    });
    let headers = response.headers_mut();
    if let Some(v) = id_header {
        headers.insert(REQUEST_ID_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&ours.to_string()) {
        headers.insert(TRACEPARENT_HEADER, v);
    }
    response
}

/// The caller's request id when it is one valid header, else a new one.
fn request_id(headers: &HeaderMap) -> String {
    let mut given = headers.get_all(REQUEST_ID_HEADER).iter();
    match (given.next().map(HeaderValue::to_str), given.next()) {
        (Some(Ok(id)), None) if is_valid_request_id(id) => id.to_string(),
        // User-space randomness: no system call on the check-in path.
        _ => hex::encode(rand::random::<[u8; 16]>()),
    }
}

/// The caller's trace context when it sent exactly one valid `traceparent`; several
/// are invalid by the spec, and an invalid one starts a new trace, never an error.
fn trace_parent(headers: &HeaderMap) -> Option<TraceParent> {
    let mut given = headers.get_all(TRACEPARENT_HEADER).iter();
    match (given.next(), given.next()) {
        (Some(v), None) => TraceParent::parse(v.to_str().ok()?),
        _ => None,
    }
}
