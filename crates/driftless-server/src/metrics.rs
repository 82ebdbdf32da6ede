//! The control plane's Prometheus metrics: what each request did (counted as it is
//! answered), the fleet and its rollouts (computed now and then off the request path,
//! see [`crate::metrics_fleet`]), the process ([`crate::metrics_process`]) and the
//! database calls ([`crate::metrics_store`]), served as text at `GET /metrics`.
//!
//! The exporter is `prometheus-client`, the Prometheus project's own Rust client: metric
//! families with typed label sets, no global registry (each [`crate::AppState`] has its
//! own, so servers sharing a test process do not share counters), collectors for values
//! computed elsewhere, and the OpenMetrics text format Prometheus scrapes. Counting a
//! request costs atomic increments and a read-locked hash lookup; a scrape formats what
//! is in memory and never asks the database.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::extract::{MatchedPath, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, EncodeLabelValue, EncodeMetric,
    LabelValueEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use subtle::ConstantTimeEq as _;

use crate::auth::secret_hash;
use crate::error::ApiError;
use crate::metrics_fleet::FleetGauges;
use crate::state::AppState;

/// The route template of the check-in, whose answers are counted on their own.
pub(crate) const CHECKIN_ROUTE: &str = "/v1/installs/{id}/checkin";

/// The error code of a request refused as a replay (see [`crate::auth::replayed`]).
const REPLAYED_CODE: &str = "replayed_request";

/// The error code of a request shed under load (see [`crate::load_shed`]).
const OVERLOADED_CODE: &str = "overloaded";

/// The `Content-Type` of the OpenMetrics text format.
const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The route template a request matched (shared with the router, never copied), or
/// `unmatched`: bounded, whatever paths clients send.
#[derive(Clone, Debug)]
pub(crate) enum RouteName {
    /// A route's template.
    Matched(MatchedPath),
    /// No route matched.
    Unmatched,
}

impl RouteName {
    /// The template as the label shows it.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            RouteName::Matched(path) => path.as_str(),
            RouteName::Unmatched => "unmatched",
        }
    }
}

impl PartialEq for RouteName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteName {}

impl Hash for RouteName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for RouteName {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

/// A request's method and matched route template.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    method: &'static str,
    route: RouteName,
}

/// A request's route and answer status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct AnswerLabels {
    method: &'static str,
    route: RouteName,
    status: u16,
}

/// A check-in's answer status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CheckinLabels {
    answer: u16,
}

/// An error answer's route and code (the `code` of its JSON body).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ErrorLabels {
    route: RouteName,
    code: &'static str,
}

/// A webhook delivery attempt's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DeliveryLabels {
    outcome: &'static str,
}

/// The error code an answer carries, left on the response by
/// [`ApiError`]'s `into_response` for the counters to read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ErrorCode(pub(crate) &'static str);

/// Seconds, from 0.1 ms to about 18 s in steps of 3.
pub(crate) fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 3.0, 12))
}

/// Writes one gauge without labels, for the collectors.
pub(crate) fn gauge<N: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: N,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

/// Every metric of one control plane.
pub struct Metrics {
    registry: Registry,
    requests: Family<AnswerLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    checkins: Family<CheckinLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    replays_refused: Counter,
    load_shed: Counter,
    /// How late the runtime ran at the last probe (see [`crate::load_shed`]).
    pub(crate) queue_delay: Gauge<f64, AtomicU64>,
    tokens_minted: Counter,
    pub(crate) assignments_issued: Counter,
    webhook_deliveries: Family<DeliveryLabels, Counter>,
    pub(crate) store: crate::metrics_store::StoreMetrics,
    pub(crate) fleet: FleetGauges,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered for the scrape.
    pub fn new() -> Self {
        let mut metrics = Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            checkins: Family::default(),
            errors: Family::default(),
            replays_refused: Counter::default(),
            load_shed: Counter::default(),
            queue_delay: Gauge::default(),
            tokens_minted: Counter::default(),
            assignments_issued: Counter::default(),
            webhook_deliveries: Family::default(),
            store: crate::metrics_store::StoreMetrics::default(),
            fleet: FleetGauges::default(),
        };
        metrics.register();
        metrics
    }

    fn register(&mut self) {
        // The standard process metrics keep their usual names; the rest are ours.
        let process = Box::new(crate::metrics_process::ProcessCollector);
        self.registry.register_collector(process);
        let r = self.registry.sub_registry_with_prefix("driftless");
        r.register(
            "http_requests",
            "Requests answered, by method, route template and status",
            self.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer a request, by method and route template",
            self.latency.clone(),
        );
        r.register(
            "checkins",
            "Check-ins answered, by answer status (304: nothing changed)",
            self.checkins.clone(),
        );
        r.register(
            "http_errors",
            "Error answers, by route template and error code",
            self.errors.clone(),
        );
        r.register(
            "replays_refused",
            "Signed requests refused because they were not newer than the last accepted",
            self.replays_refused.clone(),
        );
        r.register(
            "load_shed",
            "Requests answered 503 at once because the server was at its in-flight limit \
             or running later than its queueing-delay limit",
            self.load_shed.clone(),
        );
        r.register_with_unit(
            "queue_delay",
            "How late the server's runtime ran at its last probe: how long a request waits \
             for its turn (0 while idle)",
            prometheus_client::registry::Unit::Seconds,
            self.queue_delay.clone(),
        );
        r.register(
            "registry_tokens_minted",
            "Registry tokens minted (check-ins, registry logins and renewals)",
            self.tokens_minted.clone(),
        );
        r.register(
            "assignments_issued",
            "New signed assignments issued to installs",
            self.assignments_issued.clone(),
        );
        r.register(
            "webhook_deliveries",
            "Webhook delivery attempts, by outcome (delivered, retry, failed: gave up)",
            self.webhook_deliveries.clone(),
        );
        self.store.register(r);
        r.register_collector(Box::new(self.fleet.collector()));
    }

    /// Counts one webhook delivery attempt that ended in `outcome`.
    pub(crate) fn webhook_delivery(&self, outcome: &'static str) {
        self.webhook_deliveries
            .get_or_create(&DeliveryLabels { outcome })
            .inc();
    }

    /// Counts one registry token minted.
    pub(crate) fn token_minted(&self) {
        self.tokens_minted.inc();
    }

    /// Counts a request to `route` answered with `response` after `elapsed`. Nothing
    /// is allocated once a label set has been seen.
    pub(crate) fn record(
        &self,
        method: &'static str,
        route: &RouteName,
        response: &Response,
        elapsed: Duration,
    ) {
        let status = response.status().as_u16();
        let route_labels = RouteLabels {
            method,
            route: route.clone(),
        };
        self.latency
            .get_or_create(&route_labels)
            .observe(elapsed.as_secs_f64());
        let RouteLabels { method, route } = route_labels;
        if route.as_str() == CHECKIN_ROUTE {
            self.checkins
                .get_or_create(&CheckinLabels { answer: status })
                .inc();
        }
        if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>().copied() {
            if code == REPLAYED_CODE {
                self.replays_refused.inc();
            } else if code == OVERLOADED_CODE {
                self.load_shed.inc();
            }
            let labels = ErrorLabels {
                route: route.clone(),
                code,
            };
            self.errors.get_or_create(&labels).inc();
        }
        let labels = AnswerLabels {
            method,
            route,
            status,
        };
        self.requests.get_or_create(&labels).inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// `GET /metrics`: the metrics, for the operator token or the scrape token.
pub(crate) async fn scrape(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_scraper(&state, &headers)?;
    let body = state.metrics.render().map_err(ApiError::internal)?;
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(OPENMETRICS_TYPE),
    );
    Ok(response)
}

/// Requires `Authorization: Bearer` with the scrape token (when one is set) or the
/// operator token: the metrics name apps, channels and versions of the fleet.
fn require_scraper(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized("missing scrape token")
                .with_hint("give Prometheus the scrape token as its `authorization` credentials")
        })?;
    let hash = secret_hash(token);
    let scrape_ok = state
        .config
        .metrics
        .scrape_token_sha256
        .as_deref()
        .is_some_and(|expected| bool::from(hash.as_bytes().ct_eq(expected.as_bytes())));
    if scrape_ok || crate::auth::is_operator_token(state, token) {
        return Ok(());
    }
    Err(ApiError::unauthorized(
        "token is neither this control plane's scrape token nor its operator token",
    ))
}
