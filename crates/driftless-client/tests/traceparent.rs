//! Every request carries a W3C `traceparent`: one trace id per client (a command run),
//! a new span id per request; it is outside what a signed request signs, so the
//! signature still verifies.
#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_client::InstallClient;
use driftless_wire::checkin::{request_signing_input, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use driftless_wire::trace_context::{TraceId, TraceParent, TRACEPARENT_HEADER};
use ed25519_dalek::{Signature, Verifier as _};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn traceparent(req: &Request) -> TraceParent {
    let values: Vec<_> = req.headers.get_all(TRACEPARENT_HEADER).iter().collect();
    assert_eq!(values.len(), 1, "{values:?}");
    TraceParent::parse(values[0].to_str().unwrap()).unwrap()
}

/// A control plane that answers every `registry-login` of `ins_x` with a 500.
async fn control_plane() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/installs/ins_x/registry-login"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn one_trace_per_client_and_a_new_span_per_request() {
    let server = control_plane().await;
    let trace = TraceId::random();
    let client = InstallClient::new(&server.uri()).unwrap().with_trace(trace);
    assert_eq!(client.trace_id(), trace);
    let key = driftless_wire::keys::generate_signing_key();
    for at in [1, 2] {
        let _ = client.registry_login("ins_x", &key, at).await;
    }
    let other = InstallClient::new(&server.uri()).unwrap();
    let _ = other.registry_login("ins_x", &key, 3).await;

    let seen: Vec<TraceParent> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(traceparent)
        .collect();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].trace_id, trace);
    assert_eq!(seen[1].trace_id, trace);
    assert_ne!(seen[0].parent_id, seen[1].parent_id);
    assert_ne!(seen[2].trace_id, trace, "another client, another trace");
}

#[tokio::test]
async fn a_signed_request_with_a_traceparent_still_verifies() {
    let server = control_plane().await;
    let client = InstallClient::new(&server.uri()).unwrap();
    let key = driftless_wire::keys::generate_signing_key();
    let _ = client.registry_login("ins_x", &key, 42).await;

    let requests = server.received_requests().await.unwrap();
    let req = &requests[0];
    traceparent(req);
    let at: i64 = req.headers[TIMESTAMP_HEADER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let sig = B64
        .decode(req.headers[SIGNATURE_HEADER].as_bytes())
        .unwrap();
    let input = request_signing_input("POST", req.url.path(), at, &req.body);
    key.verifying_key()
        .verify(&input, &Signature::from_slice(&sig).unwrap())
        .unwrap();
}
