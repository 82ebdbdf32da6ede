//! Every request's log lines carry its request id and W3C trace: the real router over an
//! in-memory store, its log captured in the control plane's own JSON format.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use driftless_server::{log_format, router, AppState, ServerConfig};
use driftless_store_sqlite::SqliteStore;
use driftless_wire::trace_context::{TraceParent, REQUEST_ID_HEADER, TRACEPARENT_HEADER};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;

const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The log lines written so far.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Every line, each parsed as JSON (a line that is not JSON fails the test).
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The one access line.
    fn access_line(&self) -> Value {
        let access: Vec<Value> = self
            .lines()
            .into_iter()
            .filter(|l| l["target"] == "driftless_server::access")
            .collect();
        assert_eq!(access.len(), 1, "{access:?}");
        access[0].clone()
    }
}

async fn state() -> AppState {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    let mut state = support::state(Arc::new(store), 0);
    state.config = Arc::new(ServerConfig {
        artifacts_in_database: true,
        ..(*state.config).clone()
    });
    state
}

/// Sends `req` to the router with the log captured at `filter`.
async fn send(req: Request<Body>, filter: &str) -> (Response<Body>, Captured) {
    let app = router(state().await);
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = log_format::json_subscriber(Some(filter), move || writer.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let response = app.oneshot(req).await.unwrap();
    (response, log)
}

fn get(path: &str) -> axum::http::request::Builder {
    Request::builder().uri(path)
}

fn header(response: &Response<Body>, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_string()
}

/// The fields of the `request` span a log line happened in.
fn request_span(line: &Value) -> &Value {
    let span = &line["spans"][0];
    assert_eq!(span["name"], "request", "{line}");
    span
}

#[tokio::test]
async fn a_request_without_ids_gets_new_ones_in_its_answer_and_its_access_line() {
    let (response, log) = send(get("/healthz").body(Body::empty()).unwrap(), "info").await;
    assert_eq!(response.status(), StatusCode::OK);
    let request_id = header(&response, REQUEST_ID_HEADER);
    assert_eq!(request_id.len(), 32, "{request_id}");
    let ours = TraceParent::parse(&header(&response, TRACEPARENT_HEADER)).unwrap();

    let line = log.access_line();
    assert_eq!(line["route"], "/healthz");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0, "{line}");
    let span = request_span(&line);
    assert_eq!(span["request_id"], request_id.as_str());
    assert_eq!(span["trace_id"], ours.trace_id.to_string());
    assert_eq!(span["span_id"], ours.parent_id.to_string());
    assert!(span.get("parent_span_id").is_none(), "{line}");
}

#[tokio::test]
async fn a_valid_traceparent_is_continued_in_a_span_of_the_control_plane() {
    let req = get("/healthz")
        .header(TRACEPARENT_HEADER, CALLER)
        .body(Body::empty())
        .unwrap();
    let (response, log) = send(req, "info").await;
    let caller = TraceParent::parse(CALLER).unwrap();
    let ours = TraceParent::parse(&header(&response, TRACEPARENT_HEADER)).unwrap();
    assert_eq!(ours.trace_id, caller.trace_id);
    assert_ne!(ours.parent_id, caller.parent_id);
    assert_eq!(ours.flags, caller.flags);

    let line = log.access_line();
    let span = request_span(&line);
    assert_eq!(span["trace_id"], caller.trace_id.to_string());
    assert_eq!(span["parent_span_id"], caller.parent_id.to_string());
    assert_eq!(span["span_id"], ours.parent_id.to_string());
}

#[tokio::test]
async fn an_invalid_traceparent_starts_a_new_trace_and_is_never_an_error() {
    let uppercase = CALLER.to_uppercase();
    let zero_trace = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
    let bad_version = CALLER.replacen("00-", "ff-", 1);
    for sent in [uppercase.as_str(), zero_trace, &bad_version, "garbage"] {
        let req = get("/healthz")
            .header(TRACEPARENT_HEADER, sent)
            .body(Body::empty())
            .unwrap();
        let (response, log) = send(req, "info").await;
        assert_eq!(response.status(), StatusCode::OK, "{sent}");
        let ours = TraceParent::parse(&header(&response, TRACEPARENT_HEADER)).unwrap();
        assert_ne!(
            ours.trace_id.to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let line = log.access_line();
        assert_eq!(request_span(&line)["trace_id"], ours.trace_id.to_string());
    }
}

#[tokio::test]
async fn two_traceparent_headers_start_a_new_trace() {
    let other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let req = get("/healthz")
        .header(TRACEPARENT_HEADER, CALLER)
        .header(TRACEPARENT_HEADER, other)
        .body(Body::empty())
        .unwrap();
    let (response, _) = send(req, "info").await;
    let ours = TraceParent::parse(&header(&response, TRACEPARENT_HEADER)).unwrap();
    assert!(!CALLER.contains(&ours.trace_id.to_string()));
    assert!(!other.contains(&ours.trace_id.to_string()));
}

#[tokio::test]
async fn a_valid_request_id_is_kept_and_one_that_could_forge_a_line_is_replaced() {
    let req = get("/healthz")
        .header(REQUEST_ID_HEADER, "lb-7f3a.42")
        .body(Body::empty())
        .unwrap();
    let (response, log) = send(req, "info").await;
    assert_eq!(header(&response, REQUEST_ID_HEADER), "lb-7f3a.42");
    assert_eq!(request_span(&log.access_line())["request_id"], "lb-7f3a.42");

    let forged = "x\",\"level\":\"ERROR";
    let req = get("/healthz")
        .header(REQUEST_ID_HEADER, forged)
        .body(Body::empty())
        .unwrap();
    let (response, log) = send(req, "info").await;
    let replaced = header(&response, REQUEST_ID_HEADER);
    assert_ne!(replaced, forged);
    assert_eq!(request_span(&log.access_line())["request_id"], replaced);
}

#[tokio::test]
async fn the_access_line_names_the_route_template_not_the_path() {
    let req = get("/v1/apps/acme/releases/1.0.0")
        .body(Body::empty())
        .unwrap();
    let (response, log) = send(req, "info").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let line = log.access_line();
    assert_eq!(line["route"], "/v1/apps/{app}/releases/{version}");
    assert_eq!(line["status"], 401);

    let (response, log) = send(get("/nowhere").body(Body::empty()).unwrap(), "info").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().contains_key(REQUEST_ID_HEADER));
    assert_eq!(log.access_line()["route"], "unmatched");
}

#[tokio::test]
async fn every_line_a_request_logs_carries_its_request_id_and_trace() {
    let bytes = b"a CLI build";
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    let req = Request::builder()
        .method("PUT")
        .uri(format!("/v1/artifacts/{digest}"))
        .header(
            "authorization",
            format!("Bearer {}", support::OPERATOR_TOKEN),
        )
        .header(TRACEPARENT_HEADER, CALLER)
        .body(Body::from(&bytes[..]))
        .unwrap();
    let (response, log) = send(req, "trace").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let request_id = header(&response, REQUEST_ID_HEADER);
    let lines: Vec<Value> = log
        .lines()
        .into_iter()
        .filter(|l| l["target"].as_str().unwrap().starts_with("driftless"))
        .collect();
    assert!(
        lines.iter().any(|l| l["message"] == "artifact stored"),
        "{lines:?}"
    );
    for line in &lines {
        let span = request_span(line);
        assert_eq!(span["request_id"], request_id.as_str(), "{line}");
        assert_eq!(
            span["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
            "{line}"
        );
    }
}

#[tokio::test]
async fn an_audit_entry_names_the_request_that_made_the_change() {
    let state = state().await;
    let req = Request::builder()
        .method("POST")
        .uri("/v1/apps")
        .header(
            "authorization",
            format!("Bearer {}", support::OPERATOR_TOKEN),
        )
        .header(REQUEST_ID_HEADER, "deploy-42")
        .body(Body::from(r#"{"name":"acme"}"#))
        .unwrap();
    let response = router(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let log = state.store.list_audit(1).await.unwrap();
    assert_eq!(log[0].event.action, "app.create");
    assert_eq!(log[0].event.request_id, "deploy-42");
    assert_eq!(log[0].event.actor, "user:owner");
}
