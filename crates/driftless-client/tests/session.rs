//! Opening a check-in session: a control plane without the route answers a bare 404
//! (check-ins stay signed); an unknown install's 404 is an error; a MACed check-in
//! carries the session headers and no signature.
#![allow(clippy::unwrap_used)]

use driftless_client::{CheckinAuth, CheckinOutcome, ClientError, InstallClient};
use driftless_wire::checkin::{CheckinRequest, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use driftless_wire::session::{HostHandshake, SessionKey, MAC_HEADER, SESSION_HEADER};
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn request() -> CheckinRequest {
    serde_json::from_value(serde_json::json!({
        "release_counter": null,
        "version": null,
        "status": "new",
        "cli_version": "0.1.0",
        "platform": "linux/amd64",
        "free_disk_bytes": null,
    }))
    .unwrap()
}

#[tokio::test]
async fn a_control_plane_without_sessions_gets_none_and_an_unknown_install_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/installs/ins_old/session"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/installs/ins_gone/session"))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "code": "unknown_install", "message": "unknown install `ins_gone`"
        })))
        .mount(&server)
        .await;
    let client = InstallClient::new(&server.uri()).unwrap();
    let key = driftless_wire::keys::generate_signing_key();
    let req = HostHandshake::new().request();
    let none = client
        .open_session("ins_old", &key, &req, 1_700_000_000_000)
        .await
        .unwrap();
    assert!(none.is_none());
    let err = client
        .open_session("ins_gone", &key, &req, 1_700_000_000_001)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Api { code, .. } if code == "unknown_install"),
        "{err}"
    );
}

#[tokio::test]
async fn a_maced_check_in_carries_the_session_and_no_signature() {
    let server = MockServer::start().await;
    let key = SessionKey::from_bytes([9; 32]);
    let ts = 1_700_000_000_000i64;
    let body = serde_json::to_vec(&request()).unwrap();
    let mac = key.mac("POST", "/v1/installs/ins_x/checkin", ts, &body);
    use base64::Engine as _;
    let mac = base64::engine::general_purpose::STANDARD.encode(mac);
    Mock::given(method("POST"))
        .and(path("/v1/installs/ins_x/checkin"))
        .and(header(SESSION_HEADER, "s_1"))
        .and(header(MAC_HEADER, mac.as_str()))
        .and(header(TIMESTAMP_HEADER, ts.to_string().as_str()))
        .respond_with(ResponseTemplate::new(304))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(header_exists(SIGNATURE_HEADER))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let client = InstallClient::new(&server.uri()).unwrap();
    let auth = CheckinAuth::Session {
        id: "s_1",
        key: &key,
    };
    let outcome = client
        .checkin_with("ins_x", auth, &request(), None, ts)
        .await
        .unwrap();
    assert!(
        matches!(outcome, CheckinOutcome::NotModified { .. }),
        "{outcome:?}"
    );
}
