//! A hostile or broken control plane cannot make the client read without bound, and
//! malformed answers are refused as such.
#![allow(clippy::unwrap_used)]

use driftless_client::{ClientError, InstallClient, MAX_RESPONSE_BYTES};
use driftless_wire::checkin::CheckinRequest;
use driftless_wire::status::InstallStatus;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn request() -> CheckinRequest {
    serde_json::from_value(serde_json::json!({
        "release_counter": null,
        "version": null,
        "status": InstallStatus::New,
        "cli_version": "0.1.0",
        "platform": "linux/amd64",
        "free_disk_bytes": null,
    }))
    .unwrap()
}

#[tokio::test]
async fn an_endless_check_in_answer_is_cut_off_at_the_cap() {
    let server = MockServer::start().await;
    let body = vec![b' '; MAX_RESPONSE_BYTES + 1];
    Mock::given(method("POST"))
        .and(path("/v1/installs/ins_x/checkin"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(body))
        .mount(&server)
        .await;
    let client = InstallClient::new(&server.uri()).unwrap();
    let key = driftless_wire::keys::generate_signing_key();
    let err = client
        .checkin("ins_x", &key, &request(), None, 0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::TooLarge { cap, .. } if cap == MAX_RESPONSE_BYTES),
        "{err}"
    );
}

#[tokio::test]
async fn an_oversized_root_document_is_refused() {
    let server = MockServer::start().await;
    let body = format!(
        "{{\"payloadType\":\"x\",\"payload\":\"{}\",\"signatures\":[]}}",
        "A".repeat(600 * 1024)
    );
    Mock::given(method("GET"))
        .and(path("/v1/trust/root/1"))
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .mount(&server)
        .await;
    let client = InstallClient::new(&server.uri()).unwrap();
    let err = client.root(1).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::TooLarge { .. } | ClientError::Malformed { .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_malformed_check_in_answer_is_a_protocol_error_not_a_panic() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{not json"))
        .mount(&server)
        .await;
    let client = InstallClient::new(&server.uri()).unwrap();
    let key = driftless_wire::keys::generate_signing_key();
    let err = client
        .checkin("ins_x", &key, &request(), None, 0)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Malformed { .. }), "{err}");
}

#[tokio::test]
async fn a_registry_token_answer_without_a_token_is_malformed_not_an_empty_password() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/registry/token"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"expires_in\":300}"))
        .mount(&server)
        .await;
    let client = driftless_client::VendorClient::new(&server.uri(), "dlop_x").unwrap();
    let err = client
        .registry_pull_token(&["acme/web".to_string()])
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Malformed { .. }), "{err}");
}
