//! Every request's context in the log: a request id (the caller's valid `X-Request-Id`,
//! else a new one), the W3C trace it belongs to (the caller's valid `traceparent`, else
//! a new trace) and a span of its own. Every log line written while the request is
//! handled carries them through the `request` span; one access line at the end adds the
//! route template, the status and the latency. The response carries `X-Request-Id`
//! and a `traceparent` naming the control plane's span.
//!
//! The same layer sheds load past the in-flight limit, counts arrivals for the
//! queueing-delay probe (see [`crate::load_shed`]) and counts every answer in
//! [`Metrics`]. It is one hand-written tower layer rather than `from_fn` middleware:
//! the converged check-in answers in tens of microseconds, and each `from_fn` layer
//! costs a boxed future and a boxed clone of the inner service per request. With
//! logging below `info` nothing here allocates but the two response headers.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use driftless_wire::trace_context::{
    is_valid_request_id, SpanId, TraceId, TraceParent, FLAG_SAMPLED, REQUEST_ID_HEADER,
    TRACEPARENT_HEADER,
};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use tracing::Span;

use crate::load_shed::{InFlight, QueueDelay, Shed};
use crate::metrics::{Metrics, RouteName};

tokio::task_local! {
    /// The request id of the request this task serves, for the audit entries it writes.
    static REQUEST_ID: HeaderValue;
}

/// The id of the request the calling task serves; empty outside a request (the
/// control plane's own work, such as rollout ticks).
pub(crate) fn current_request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

/// The layer over every route: context, load shedding, counting.
#[derive(Clone)]
pub(crate) struct RequestLayer {
    metrics: Arc<Metrics>,
    budget: Option<InFlight>,
    queue: Arc<QueueDelay>,
}

impl RequestLayer {
    /// Counts into `metrics`, sheds past `budget` (none: no limit) and tells `queue`
    /// of each request (the access layer sheds hosts' requests while it runs late).
    pub(crate) fn new(
        metrics: Arc<Metrics>,
        budget: Option<InFlight>,
        queue: Arc<QueueDelay>,
    ) -> Self {
        RequestLayer {
            metrics,
            budget,
            queue,
        }
    }
}

impl<S> Layer<S> for RequestLayer {
    type Service = Tracked<S>;

    fn layer(&self, inner: S) -> Tracked<S> {
        Tracked {
            inner,
            metrics: self.metrics.clone(),
            budget: self.budget.clone(),
            queue: self.queue.clone(),
        }
    }
}

/// One route's service under [`RequestLayer`].
#[derive(Clone)]
pub(crate) struct Tracked<S> {
    inner: S,
    metrics: Arc<Metrics>,
    budget: Option<InFlight>,
    queue: Arc<QueueDelay>,
}

impl<S> Service<Request> for Tracked<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TrackedFuture<TaskLocalFuture<HeaderValue, S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        let context = RequestContext::of(&req);
        let span = context.span();
        self.queue.arrived();
        let answer = match &self.budget {
            Some(budget) => match budget.try_acquire() {
                Some(slot) => Answer::Running {
                    future: self.run(req, &span, &context.request_id),
                    _slot: Some(slot),
                },
                None => Answer::Shed {
                    why: Shed::InFlight(budget.limit()),
                },
            },
            None => Answer::Running {
                future: self.run(req, &span, &context.request_id),
                _slot: None,
            },
        };
        TrackedFuture {
            answer,
            span,
            context: Some(context),
            metrics: self.metrics.clone(),
            started,
        }
    }
}

impl<S> Tracked<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    /// Calls the inner service with the request's span entered and its id in the
    /// task-local the audit log reads. The service that was polled ready is the one
    /// called; a clone takes its place for the next request.
    fn run(
        &mut self,
        req: Request,
        span: &Span,
        request_id: &HeaderValue,
    ) -> TaskLocalFuture<HeaderValue, S::Future> {
        let ready = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, ready);
        let _entered = span.enter();
        // A clone of a header value shares its bytes.
        REQUEST_ID.scope(request_id.clone(), ready.call(req))
    }
}

pin_project_lite::pin_project! {
    /// A request in flight: the route's answer (or the load-shedding `503`), then the
    /// counters, the access line and the context headers.
    pub(crate) struct TrackedFuture<F> {
        #[pin]
        answer: Answer<F>,
        span: Span,
        context: Option<RequestContext>,
        metrics: Arc<Metrics>,
        started: Instant,
    }
}

pin_project_lite::pin_project! {
    #[project = AnswerProj]
    enum Answer<F> {
        Running {
            #[pin]
            future: F,
            // Held until the answer is produced, then released with the future.
            _slot: Option<OwnedSemaphorePermit>,
        },
        Shed { why: Shed },
    }
}

impl<F> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.answer.project() {
            AnswerProj::Running { future, .. } => {
                let _entered = this.span.enter();
                match future.poll(cx) {
                    Poll::Ready(Ok(response)) => response,
                    Poll::Pending => return Poll::Pending,
                }
            }
            AnswerProj::Shed { why } => crate::load_shed::overloaded(*why),
        };
        let Some(context) = this.context.take() else {
            // Polled again after it answered: a caller bug; answer it the same way.
            return Poll::Ready(Ok(response));
        };
        Poll::Ready(Ok(context.finish(
            response,
            this.span,
            this.metrics,
            *this.started,
        )))
    }
}

/// What the layer knows of a request before it runs.
pub(crate) struct RequestContext {
    request_id: HeaderValue,
    ours: TraceParent,
    caller_span: Option<SpanId>,
    method: &'static str,
    route: RouteName,
}

impl RequestContext {
    fn of(req: &Request) -> Self {
        let caller = trace_parent(req.headers());
        RequestContext {
            request_id: request_id(req.headers()),
            ours: TraceParent {
                trace_id: caller.map_or_else(TraceId::random, |c| c.trace_id),
                parent_id: SpanId::random(),
                flags: caller.map_or(FLAG_SAMPLED, |c| c.flags),
            },
            caller_span: caller.map(|c| c.parent_id),
            method: method_label(req.method()),
            route: req
                .extensions()
                .get::<MatchedPath>()
                .map_or(RouteName::Unmatched, |m| RouteName::Matched(m.clone())),
        }
    }

    /// The request's span; disabled (and nothing formatted) below `info`.
    fn span(&self) -> Span {
        let span = tracing::info_span!(
            "request",
            request_id = self.request_id.to_str().unwrap_or_default(),
            trace_id = %self.ours.trace_id,
            span_id = %self.ours.parent_id,
            parent_span_id = tracing::field::Empty,
        );
        if let Some(parent) = self.caller_span {
            span.record("parent_span_id", tracing::field::display(parent));
        }
        span
    }

    /// Counts and logs the answer and puts the context headers on it.
    fn finish(
        self,
        mut response: Response,
        span: &Span,
        metrics: &Metrics,
        started: Instant,
    ) -> Response {
        let elapsed = started.elapsed();
        metrics.record(self.method, &self.route, &response, elapsed);
        span.in_scope(|| {
            tracing::info!(
                target: "driftless_server::access",
                method = self.method,
                route = self.route.as_str(),
                status = response.status().as_u16(),
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                "request served"
            );
        });
        let headers = response.headers_mut();
        headers.insert(REQUEST_ID_HEADER, self.request_id);
        if let Ok(v) = HeaderValue::from_bytes(&self.ours.to_header()) {
            headers.insert(TRACEPARENT_HEADER, v);
        }
        response
    }
}

/// The method as a label: the standard ones by name, any other as `other` (a client
/// must not be able to grow the label set).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The caller's request id when it is one valid header, else a new one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    let mut given = headers.get_all(REQUEST_ID_HEADER).iter();
    if let (Some(id), None) = (given.next(), given.next()) {
        if id.to_str().is_ok_and(is_valid_request_id) {
            return id.clone();
        }
    }
    // User-space randomness: no system call on the check-in path.
    let mut hex = [0u8; 32];
    // 16 bytes always fit 32 hex digits.
    let _ = hex::encode_to_slice(rand::random::<[u8; 16]>(), &mut hex);
    HeaderValue::from_bytes(&hex).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
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
