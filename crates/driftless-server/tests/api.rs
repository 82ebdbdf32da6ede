#![allow(clippy::unwrap_used)]
//! The control plane's HTTP API in process: the real router over an in-memory SQLite
//! store, called with `tower::ServiceExt::oneshot`, no network.

use driftless_trust_fixtures::published_release;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use base64::Engine as _;
use driftless_registry_token::{generate_key_material, TokenSigner};
use driftless_server::{router, AppState, ServerConfig};
use driftless_store::AuditEntry;
use driftless_store_sqlite::SqliteStore;
use driftless_wire::checkin::{
    request_signing_input, INSTALL_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use driftless_wire::keys::generate_signing_key;
use driftless_wire::release::ReleaseDocument;
use driftless_wire::root::{Role, RoleKeys, RootDocument};
use driftless_wire::{Digest, Envelope, KeyId, PublicKey, RELEASE_PAYLOAD_TYPE, ROOT_PAYLOAD_TYPE};
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;

const OPERATOR_TOKEN: &str = "dlop_test_operator_token";
const APP: &str = "acme";
const CHANNEL: &str = "stable";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A time to sign a request at, in Unix milliseconds: like the CLI's, never the same
/// twice, so each request the tests mean to be fresh is newer than the last.
fn request_ms() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let prev = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(wall.max(last + 1))
        })
        .unwrap();
    wall.max(prev + 1)
}

/// The router over a fresh in-memory store, and the offline release key.
struct Harness {
    state: AppState,
    release_key: SigningKey,
}

/// One answer: status, headers and the raw body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the status and the `{code, message}` error body; returns the message.
    fn expect_error(&self, status: StatusCode, code: &str) -> String {
        let text = String::from_utf8_lossy(&self.body).into_owned();
        assert_eq!(self.status, status, "body: {text}");
        let body = self.json();
        assert_eq!(body["code"], code, "body: {text}");
        let message = body["message"].as_str().unwrap().to_string();
        assert!(!message.is_empty(), "empty message: {text}");
        message
    }
}

fn role(keys: &[&SigningKey], threshold: u32, all: &mut BTreeMap<KeyId, PublicKey>) -> RoleKeys {
    let keyids = keys
        .iter()
        .map(|k| {
            let p = PublicKey::from_signing_key(k);
            let id = p.key_id();
            all.insert(id.clone(), p);
            id
        })
        .collect();
    RoleKeys { keyids, threshold }
}

impl Harness {
    /// Keys and root v1 made the way `driftless-vendor init` makes them.
    async fn new() -> Harness {
        Harness::with_artifacts(None).await
    }

    /// A harness whose control plane stores artifacts in `artifacts_dir`.
    async fn with_artifacts(artifacts_dir: Option<std::path::PathBuf>) -> Harness {
        Harness::with_artifact_store(artifacts_dir, false).await
    }

    /// A harness whose control plane stores artifacts in its database.
    async fn with_artifacts_in_database() -> Harness {
        Harness::with_artifact_store(None, true).await
    }

    async fn with_artifact_store(
        artifacts_dir: Option<std::path::PathBuf>,
        artifacts_in_database: bool,
    ) -> Harness {
        let t = now();
        let root_keys: Vec<SigningKey> = (0..3).map(|_| generate_signing_key()).collect();
        let release_key = generate_signing_key();
        let director = generate_signing_key();
        let material = generate_key_material("driftless registry token", t).unwrap();
        let tokens = TokenSigner::from_pem(&material.key_pem, &material.cert_pem).unwrap();
        let mut keys = BTreeMap::new();
        let mut roles = BTreeMap::new();
        let refs: Vec<&SigningKey> = root_keys.iter().collect();
        roles.insert(Role::Root, role(&refs, 2, &mut keys));
        roles.insert(Role::Release, role(&[&release_key], 1, &mut keys));
        roles.insert(Role::Director, role(&[&director], 1, &mut keys));
        let root = RootDocument {
            doc_type: "root".into(),
            version: 1,
            expires: t + 365 * 86400,
            keys,
            roles,
            registry_token_cert_sha256: None,
            checkpoint: None,
        };
        let envelope = Envelope::sign(
            ROOT_PAYLOAD_TYPE,
            &serde_json::to_vec(&root).unwrap(),
            &refs,
        );
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let config = ServerConfig {
            artifacts_dir,
            artifacts_in_database,
            ..ServerConfig::new(
                "127.0.0.1:5000",
                true,
                hex::encode(Sha256::digest(OPERATOR_TOKEN.as_bytes())),
            )
        };
        let keys = driftless_server::Keys {
            director,
            tokens,
            checkpoint: None,
            roots: vec![envelope],
            root,
        };
        let state = AppState::new(Arc::new(store), keys, config);
        Harness { state, release_key }
    }

    async fn send(&self, req: Request<Body>) -> Answer {
        let resp = router(self.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// An operator request with `body` as raw bytes.
    async fn operator_raw(&self, method: Method, path: &str, body: Vec<u8>) -> Answer {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {OPERATOR_TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.operator_raw(Method::POST, path, serde_json::to_vec(&body).unwrap())
            .await
    }

    async fn get(&self, path: &str) -> Answer {
        self.operator_raw(Method::GET, path, Vec::new()).await
    }

    /// App `acme` with channel `stable`, a customer and a license; returns the license.
    async fn app_with_license(&self) -> Value {
        assert_eq!(
            self.post("/v1/apps", json!({"name": APP})).await.status,
            StatusCode::CREATED
        );
        let path = format!("/v1/apps/{APP}/channels");
        assert_eq!(
            self.post(&path, json!({"name": CHANNEL})).await.status,
            StatusCode::CREATED
        );
        let c = self
            .post("/v1/customers", json!({"name": "Acme Corp"}))
            .await;
        assert_eq!(c.status, StatusCode::CREATED);
        let l = self
            .post(
                "/v1/licenses",
                json!({"customer": "Acme Corp", "app": APP, "channel": CHANNEL}),
            )
            .await;
        assert_eq!(l.status, StatusCode::CREATED);
        l.json()
    }

    async fn upload(&self, envelope: &Envelope) -> Answer {
        self.post(
            &format!("/v1/apps/{APP}/releases"),
            json!({ "envelope": envelope }),
        )
        .await
    }

    async fn promote(&self, version: &str) -> Answer {
        self.post(
            &format!("/v1/apps/{APP}/channels/{CHANNEL}/promote"),
            json!({ "version": version }),
        )
        .await
    }

    /// Registers a fresh host key under `license_key`.
    async fn register(&self, license_key: &str, key: &SigningKey) -> Answer {
        let body = json!({
            "license_key": license_key,
            "public_key": PublicKey::from_signing_key(key).public,
            "hostname": "host-1",
            "platform": "linux/amd64",
            "cli_version": "0.1.0",
        });
        let req = Request::builder()
            .method(Method::POST)
            .uri("/v1/installs")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        self.send(req).await
    }

    /// A check-in signed like the CLI signs it, with `key` at `timestamp` (Unix ms).
    async fn checkin(
        &self,
        install_id: &str,
        key: &SigningKey,
        timestamp: i64,
        etag: Option<&str>,
    ) -> Answer {
        let mut req = checkin_request(install_id, key, timestamp, "new");
        if let Some(tag) = etag {
            req.headers_mut()
                .insert(header::IF_NONE_MATCH, format!("\"{tag}\"").parse().unwrap());
        }
        self.send(req).await
    }
}

/// A request signed like the CLI signs one: `key` over method, path, `timestamp`
/// (Unix ms) and `body`.
fn signed_request(
    method: Method,
    path: &str,
    key: &SigningKey,
    timestamp: i64,
    body: Vec<u8>,
) -> axum::http::request::Builder {
    let sig = key.sign(&request_signing_input(
        method.as_str(),
        path,
        timestamp,
        &body,
    ));
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, B64.encode(sig.to_bytes()))
}

/// A signed check-in of `install_id` reporting `status`; the same arguments make the
/// same request, byte for byte.
fn checkin_request(
    install_id: &str,
    key: &SigningKey,
    timestamp: i64,
    status: &str,
) -> Request<Body> {
    let path = format!("/v1/installs/{install_id}/checkin");
    let body = serde_json::to_vec(&json!({
        "release_counter": null,
        "version": null,
        "status": status,
        "cli_version": "0.1.0",
        "platform": "linux/amd64",
        "free_disk_bytes": 1_000_000_000u64,
    }))
    .unwrap();
    signed_request(Method::POST, &path, key, timestamp, body.clone())
        .body(Body::from(body))
        .unwrap()
}

/// A release document of `acme` with two images and the compose descriptor, each in
/// the release's own repositories.
fn release_doc(version: &str, counter: u64) -> ReleaseDocument {
    let version = version.parse().unwrap();
    published_release(APP, &version, counter, &["web", "api"], now())
}

fn signed(doc: &ReleaseDocument, key: &SigningKey) -> Envelope {
    Envelope::sign(
        RELEASE_PAYLOAD_TYPE,
        &serde_json::to_vec(doc).unwrap(),
        &[key],
    )
}

/// The claims of a compact JWS, as JSON.
fn jwt_claims(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWS: {token}");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

#[tokio::test]
async fn missing_or_wrong_operator_token_is_401_with_a_json_error() {
    let h = Harness::new().await;
    let bare = Request::builder()
        .uri("/v1/apps")
        .body(Body::empty())
        .unwrap();
    h.send(bare)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let wrong = Request::builder()
        .uri("/v1/apps")
        .header(header::AUTHORIZATION, "Bearer dlop_not_the_token")
        .body(Body::empty())
        .unwrap();
    h.send(wrong)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // The right token still works, so the 401s above were about the token.
    assert_eq!(h.get("/v1/apps").await.status, StatusCode::OK);
}

#[tokio::test]
async fn creating_an_app_twice_conflicts() {
    let h = Harness::new().await;
    let first = h.post("/v1/apps", json!({"name": APP})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.json()["name"], APP);
    h.post("/v1/apps", json!({"name": APP}))
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn invalid_app_names_are_refused_with_400() {
    let h = Harness::new().await;
    for name in ["Acme", "a/b", "_x"] {
        let message = h
            .post("/v1/apps", json!({ "name": name }))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains(name), "{name}: {message}");
    }
    assert_eq!(h.get("/v1/apps").await.json(), json!([]));
}

#[tokio::test]
async fn a_channel_of_an_unknown_app_is_404_unknown_app() {
    let h = Harness::new().await;
    h.post("/v1/apps/nosuch/channels", json!({"name": CHANNEL}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_app");
}

#[tokio::test]
async fn an_error_body_says_what_failed_and_separately_what_to_do() {
    let h = Harness::new().await;
    let answer = h
        .post("/v1/apps/nosuch/channels", json!({"name": CHANNEL}))
        .await;
    let message = answer.expect_error(StatusCode::NOT_FOUND, "unknown_app");
    assert_eq!(message, "unknown app `nosuch`");
    assert_eq!(
        answer.json()["hint"],
        "create it with `driftless-vendor app create nosuch`"
    );
    // An error with nothing to do about it has no hint field at all.
    let answer = h.post("/v1/apps", json!({"name": "Bad Name"})).await;
    answer.expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(answer.json().get("hint").is_none(), "{:?}", answer.json());
}

#[tokio::test]
async fn a_malformed_json_body_is_400_naming_what_was_malformed() {
    let h = Harness::new().await;
    let message = h
        .operator_raw(Method::POST, "/v1/apps", b"{\"name\": ".to_vec())
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("malformed app"), "{message}");
    h.post("/v1/apps", json!({"name": APP})).await;
    let message = h
        .operator_raw(
            Method::POST,
            &format!("/v1/apps/{APP}/releases"),
            b"not json".to_vec(),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("malformed release upload"), "{message}");
}

#[tokio::test]
async fn release_uploads_need_the_release_key_a_new_version_and_a_higher_counter() {
    let h = Harness::new().await;
    h.app_with_license().await;
    let doc = release_doc("1.0.0", 5);

    let stranger = generate_signing_key();
    h.upload(&signed(&doc, &stranger))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_signature");
    let releases = h.get(&format!("/v1/apps/{APP}/releases")).await;
    assert_eq!(releases.json(), json!([]), "a refused release was stored");

    let good = signed(&doc, &h.release_key);
    let created = h.upload(&good).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let payload = good.payload_bytes().unwrap();
    assert_eq!(created.json()["digest"], Digest::of(&payload).to_string());
    assert_eq!(created.json()["release_counter"], 5);

    h.upload(&signed(&release_doc("1.0.0", 6), &h.release_key))
        .await
        .expect_error(StatusCode::CONFLICT, "release_exists");
    h.upload(&signed(&release_doc("1.1.0", 3), &h.release_key))
        .await
        .expect_error(StatusCode::CONFLICT, "stale_counter");
    let releases = h.get(&format!("/v1/apps/{APP}/releases")).await.json();
    assert_eq!(releases.as_array().unwrap().len(), 1, "{releases}");

    h.promote("9.9.9")
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_release");
    assert_eq!(h.promote("1.0.0").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_release_is_served_with_its_listed_fields_and_the_signed_envelope() {
    let h = Harness::new().await;
    h.app_with_license().await;
    let good = signed(&release_doc("1.0.0", 5), &h.release_key);
    assert_eq!(h.upload(&good).await.status, StatusCode::CREATED);

    let path = format!("/v1/apps/{APP}/releases/1.0.0");
    let got = h.get(&path).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.json());
    let body = got.json();
    let listed = h.get(&format!("/v1/apps/{APP}/releases")).await.json();
    for (field, value) in listed[0].as_object().unwrap() {
        assert_eq!(
            &body[field], value,
            "field `{field}` differs from the list: {body}"
        );
    }
    assert_eq!(body["version"], "1.0.0");
    assert_eq!(body["release_counter"], 5);
    assert_eq!(body["state"], "active");
    let envelope: Envelope = serde_json::from_value(body["envelope"].clone()).unwrap();
    assert_eq!(envelope, good, "the envelope is not the one uploaded");

    h.get(&format!("/v1/apps/{APP}/releases/9.9.9"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_release");
    h.get("/v1/apps/nope/releases/1.0.0")
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_app");
    let anonymous = Request::builder().uri(&path).body(Body::empty()).unwrap();
    h.send(anonymous)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

/// The version channel `stable` of `acme` points at, as the app list shows it.
async fn stable_version(h: &Harness) -> Value {
    let apps = h.get("/v1/apps").await.json();
    apps[0]["channels"][0]["version"].clone()
}

#[tokio::test]
async fn rollouts_are_checked_paused_aborted_and_completed_by_an_operator() {
    let h = Harness::new().await;
    h.app_with_license().await;
    for (version, counter) in [("1.0.0", 1), ("2.0.0", 2)] {
        let envelope = signed(&release_doc(version, counter), &h.release_key);
        assert_eq!(h.upload(&envelope).await.status, StatusCode::CREATED);
    }
    assert_eq!(h.promote("1.0.0").await.status, StatusCode::OK);
    let start = format!("/v1/apps/{APP}/channels/{CHANNEL}/rollouts");
    let request = |version: &str, waves: Value| {
        json!({"version": version, "waves": waves, "interval_s": null,
               "min_failures": 3, "max_failure_pct": 20})
    };
    let act = |action: &str| format!("/v1/apps/{APP}/channels/{CHANNEL}/rollout/{action}");

    h.post(&start, request("2.0.0", json!([50, 10])))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    h.post(&start, request("9.9.9", json!([10, 100])))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_release");
    h.post(&start, request("1.0.0", json!([10, 100])))
        .await
        .expect_error(StatusCode::CONFLICT, "already_current");
    h.post(&act("pause"), json!({}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "no_rollout");

    let started = h.post(&start, request("2.0.0", json!([10, 100]))).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.json());
    assert_eq!(started.json()["state"], "running");
    assert_eq!(started.json()["previous_version"], "1.0.0");
    h.post(&start, request("2.0.0", json!([10, 100])))
        .await
        .expect_error(StatusCode::CONFLICT, "rollout_active");
    h.promote("2.0.0")
        .await
        .expect_error(StatusCode::CONFLICT, "rollout_active");
    h.post(&act("resume"), json!({}))
        .await
        .expect_error(StatusCode::CONFLICT, "rollout_state");
    h.post(&act("frobnicate"), json!({}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_action");
    assert_eq!(
        h.post(&act("pause"), json!({})).await.json()["state"],
        "paused"
    );
    let aborted = h.post(&act("abort"), json!({})).await.json();
    assert_eq!(aborted["state"], "aborted", "{aborted}");
    assert_eq!(
        stable_version(&h).await,
        "1.0.0",
        "abort keeps the old release"
    );

    let again = h.post(&start, request("2.0.0", json!([10, 100]))).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.json());
    assert_eq!(
        h.post(&act("advance"), json!({})).await.json()["wave_index"],
        1
    );
    let done = h.post(&act("advance"), json!({})).await.json();
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(stable_version(&h).await, "2.0.0");
    let listed = h.get(&format!("/v1/apps/{APP}/rollouts")).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
}

/// A check-in of `install_id` reporting that it runs `version` with `status`, having
/// tried `target`.
async fn checkin_reporting(
    h: &Harness,
    install_id: &str,
    key: &SigningKey,
    version: Option<&str>,
    status: &str,
    target: Option<&str>,
) -> Answer {
    let path = format!("/v1/installs/{install_id}/checkin");
    let body = serde_json::to_vec(&json!({
        "release_counter": version.map(|v| if v == "1.0.0" { 1 } else { 2 }),
        "version": version,
        "status": status,
        "cli_version": "0.1.0",
        "platform": "linux/amd64",
        "free_disk_bytes": 1_000_000_000u64,
        "target_version": target,
    }))
    .unwrap();
    let req = signed_request(Method::POST, &path, key, request_ms(), body.clone())
        .body(Body::from(body))
        .unwrap();
    let answer = h.send(req).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    answer
}

/// The version a check-in answer assigns.
fn assigned_version(answer: &Answer) -> String {
    let env: Envelope = serde_json::from_value(answer.json()["assignment"].clone()).unwrap();
    let a: driftless_wire::release::Assignment = env
        .decode(driftless_wire::ASSIGNMENT_PAYLOAD_TYPE, "assignment")
        .unwrap();
    a.version.to_string()
}

/// The fleet row of `install_id`.
async fn fleet_row(h: &Harness, install_id: &str) -> Value {
    let fleet = h.get("/v1/installs").await.json();
    fleet
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == install_id)
        .unwrap_or_else(|| panic!("{install_id} not in the fleet: {fleet}"))
        .clone()
}

#[tokio::test]
async fn a_halted_rollout_keeps_its_release_only_on_installs_that_run_it() {
    let h = Harness::new().await;
    let license = h.app_with_license().await;
    for (version, counter) in [("1.0.0", 1), ("2.0.0", 2)] {
        let envelope = signed(&release_doc(version, counter), &h.release_key);
        assert_eq!(h.upload(&envelope).await.status, StatusCode::CREATED);
    }
    assert_eq!(h.promote("1.0.0").await.status, StatusCode::OK);
    let mut hosts = Vec::new();
    for _ in 0..4 {
        let key = generate_signing_key();
        let reg = h.register(license["key"].as_str().unwrap(), &key).await;
        hosts.push((reg.json()["install_id"].as_str().unwrap().to_string(), key));
    }
    let start = format!("/v1/apps/{APP}/channels/{CHANNEL}/rollouts");
    let request = json!({"version": "2.0.0", "waves": [100], "interval_s": null,
                         "min_failures": 2, "max_failure_pct": 20});
    assert_eq!(h.post(&start, request).await.status, StatusCode::CREATED);

    // `on` applied 2.0.0; two failed it and run 1.0.0 again; `late` never checked in.
    let [(on, on_key), (f1, f1_key), (f2, f2_key), (late, late_key)] = &hosts[..] else {
        unreachable!()
    };
    checkin_reporting(&h, on, on_key, Some("2.0.0"), "converged", None).await;
    for (id, key) in [(f1, f1_key), (f2, f2_key)] {
        let failed = "failed:health_failed: web exited";
        checkin_reporting(&h, id, key, Some("1.0.0"), failed, Some("2.0.0")).await;
    }
    assert_eq!(
        driftless_server::rollout_tick(&h.state, now())
            .await
            .unwrap(),
        0
    );
    let act = |action: &str| format!("/v1/apps/{APP}/channels/{CHANNEL}/rollout/{action}");
    let listed = h.get(&format!("/v1/apps/{APP}/rollouts")).await.json();
    assert_eq!(listed[0]["state"], "halted", "{listed}");

    // Already on 2.0.0: stays there, and is told why nothing moves.
    let stays = checkin_reporting(&h, on, on_key, Some("2.0.0"), "converged", None).await;
    assert_eq!(assigned_version(&stays), "2.0.0");
    let message = stays.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("halted"), "{message}");
    // Every other install, tried or not, is handed the channel's release again.
    for (id, key, running) in [(f1, f1_key, Some("1.0.0")), (late, late_key, None)] {
        let answer = checkin_reporting(&h, id, key, running, "converged", None).await;
        assert_eq!(assigned_version(&answer), "1.0.0", "{id}");
        let pending = &answer.json()["pending"];
        assert_eq!(pending["code"], "waiting_for_wave", "{pending}");
        assert!(
            pending["detail"].as_str().unwrap().contains("halted"),
            "{pending}"
        );
    }
    assert_eq!(fleet_row(&h, on).await["desired_version"], "2.0.0");
    let row = fleet_row(&h, f1).await;
    assert_eq!(row["desired_version"], "1.0.0", "{row}");

    // Advancing a halted rollout is refused; resume is the way on.
    let refused = h.post(&act("advance"), json!({})).await;
    let message = refused.expect_error(StatusCode::CONFLICT, "rollout_halted");
    assert!(message.contains("halted"), "{message}");
    let hint = refused.json()["hint"].as_str().unwrap().to_string();
    assert!(hint.contains("rollout resume"), "{hint}");
    let listed = h.get(&format!("/v1/apps/{APP}/rollouts")).await.json();
    assert_eq!(
        (&listed[0]["state"], &listed[0]["wave_index"]),
        (&json!("halted"), &json!(0)),
        "the refused advance changed nothing: {listed}"
    );
    let resumed = h.post(&act("resume"), json!({})).await.json();
    assert_eq!(resumed["state"], "running", "{resumed}");
    let answer = checkin_reporting(&h, late, late_key, Some("1.0.0"), "converged", None).await;
    assert_eq!(
        assigned_version(&answer),
        "2.0.0",
        "resumed: the wave is open again"
    );

    // An abort sends the install that stayed on 2.0.0 back.
    assert_eq!(
        h.post(&act("abort"), json!({})).await.json()["state"],
        "aborted"
    );
    let back = checkin_reporting(&h, on, on_key, Some("2.0.0"), "converged", None).await;
    assert_eq!(assigned_version(&back), "1.0.0");
}

#[tokio::test]
async fn yanking_a_release_moves_its_channels_back_and_refuses_promotion() {
    let h = Harness::new().await;
    h.app_with_license().await;
    for (version, counter) in [("1.0.0", 1), ("2.0.0", 2)] {
        let envelope = signed(&release_doc(version, counter), &h.release_key);
        assert_eq!(h.upload(&envelope).await.status, StatusCode::CREATED);
        assert_eq!(h.promote(version).await.status, StatusCode::OK);
    }
    let state_of = |version: &str| format!("/v1/apps/{APP}/releases/{version}/state");
    h.post(&state_of("2.0.0"), json!({"state": "gone"}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    h.post(&state_of("9.9.9"), json!({"state": "yanked"}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_release");

    let yanked = h.post(&state_of("2.0.0"), json!({"state": "yanked"})).await;
    assert_eq!(yanked.status, StatusCode::OK);
    assert_eq!(yanked.json()["state"], "yanked");
    assert_eq!(
        yanked.json()["floor_warnings"],
        json!([]),
        "2.0.0 has no rollback floor: hosts go back"
    );
    assert_eq!(
        stable_version(&h).await,
        "1.0.0",
        "the channel still names a yanked release"
    );
    let detail = h
        .get(&format!("/v1/apps/{APP}/releases/2.0.0"))
        .await
        .json();
    assert_eq!(detail["state"], "yanked");
    h.promote("2.0.0")
        .await
        .expect_error(StatusCode::CONFLICT, "release_yanked");
    let restored = h.post(&state_of("2.0.0"), json!({"state": "active"})).await;
    assert_eq!(restored.status, StatusCode::OK);
    assert_eq!(restored.json()["state"], "active");
    assert_eq!(h.promote("2.0.0").await.status, StatusCode::OK);
}

#[tokio::test]
async fn abort_and_yank_below_a_rollback_floor_warn_the_operator() {
    let h = Harness::new().await;
    h.app_with_license().await;
    let mut over = release_doc("9.0.0", 9);
    over.rollback_floor = 10;
    h.upload(&signed(&over, &h.release_key))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    for (version, counter, floor) in [("1.0.0", 1, 0), ("2.0.0", 2, 0), ("3.0.0", 3, 2)] {
        let mut doc = release_doc(version, counter);
        doc.rollback_floor = floor;
        let envelope = signed(&doc, &h.release_key);
        assert_eq!(h.upload(&envelope).await.status, StatusCode::CREATED);
    }
    assert_eq!(h.promote("1.0.0").await.status, StatusCode::OK);
    let start = format!("/v1/apps/{APP}/channels/{CHANNEL}/rollouts");
    let rollout = json!({"version": "3.0.0", "waves": [100], "interval_s": null,
                         "min_failures": 3, "max_failure_pct": 20});
    assert_eq!(
        h.post(&start, rollout.clone()).await.status,
        StatusCode::CREATED
    );
    let abort = format!("/v1/apps/{APP}/channels/{CHANNEL}/rollout/abort");
    let aborted = h.post(&abort, json!({})).await.json();
    assert_eq!(aborted["state"], "aborted", "{aborted}");
    let w = &aborted["floor_warning"];
    assert_eq!(
        (&w["channel"], &w["from_version"], &w["to_version"]),
        (&json!(CHANNEL), &json!("3.0.0"), &json!("1.0.0")),
        "{aborted}"
    );
    assert_eq!(
        (&w["floor_counter"], &w["floor_version"]),
        (&json!(2), &json!("2.0.0"))
    );
    let message = w["message"].as_str().unwrap();
    assert!(message.contains("rollback floor 2.0.0"), "{message}");
    let audit = h.get("/v1/audit?limit=5").await.json();
    assert!(
        audit.to_string().contains("rollback floor 2.0.0"),
        "{audit}"
    );

    // Promoted, then yanked: the channel falls back to 1.0.0, below 3.0.0's floor.
    assert_eq!(h.promote("3.0.0").await.status, StatusCode::OK);
    let yank = format!("/v1/apps/{APP}/releases/3.0.0/state");
    let yanked = h.post(&yank, json!({"state": "yanked"})).await;
    assert_eq!(yanked.status, StatusCode::OK);
    let warnings = yanked.json()["floor_warnings"].clone();
    assert_eq!(warnings.as_array().map(Vec::len), Some(1), "{warnings}");
    assert_eq!(warnings[0]["to_version"], "1.0.0");
    assert_eq!(warnings[0]["floor_version"], "2.0.0");

    // A move back that stays at or above the floor warns no one.
    h.post(&yank, json!({"state": "active"})).await;
    assert_eq!(h.promote("2.0.0").await.status, StatusCode::OK);
    assert_eq!(h.post(&start, rollout).await.status, StatusCode::CREATED);
    let aborted = h.post(&abort, json!({})).await.json();
    assert_eq!(aborted["state"], "aborted", "{aborted}");
    assert!(aborted.get("floor_warning").is_none(), "{aborted}");
}

#[tokio::test]
async fn installs_are_listed_moved_between_channels_and_revoked() {
    let h = Harness::new().await;
    let license = h.app_with_license().await;
    let reg = h
        .register(license["key"].as_str().unwrap(), &generate_signing_key())
        .await;
    let id = reg.json()["install_id"].as_str().unwrap().to_string();
    let fleet = h.get(&format!("/v1/installs?app={APP}")).await.json();
    assert_eq!(fleet[0]["id"], id.as_str(), "{fleet}");
    assert_eq!(fleet[0]["status"], "new", "{fleet}");
    h.get("/v1/installs?app=nope")
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_app");

    let move_to = |channel: &str| json!({ "channel": channel });
    h.post(&format!("/v1/installs/{id}/move"), move_to("beta"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_channel");
    h.post("/v1/installs/ins_nope/move", move_to(CHANNEL))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_install");
    let channels = format!("/v1/apps/{APP}/channels");
    let beta = h.post(&channels, json!({"name": "beta"})).await;
    assert_eq!(beta.status, StatusCode::CREATED);
    let moved = h
        .post(&format!("/v1/installs/{id}/move"), move_to("beta"))
        .await;
    assert_eq!(moved.status, StatusCode::NO_CONTENT);
    assert_eq!(h.get("/v1/installs").await.json()[0]["channel"], "beta");

    h.post("/v1/installs/ins_nope/revoke", json!({}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_install");
    let revoked = h
        .post(&format!("/v1/installs/{id}/revoke"), json!({}))
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(h.get("/v1/installs").await.json()[0]["revoked"], true);
}

#[tokio::test]
async fn a_license_key_is_returned_once_and_never_listed() {
    let h = Harness::new().await;
    let license = h.app_with_license().await;
    let key = license["key"].as_str().unwrap().to_string();
    assert!(key.len() > 20, "{license}");
    let listed = h.get("/v1/licenses").await;
    assert_eq!(listed.status, StatusCode::OK);
    let text = String::from_utf8(listed.body.clone()).unwrap();
    assert!(
        !text.contains(&key),
        "the license list leaks the key: {text}"
    );
    let list = listed.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], license["id"]);
    assert!(list[0].get("key").is_none(), "{list}");
}

/// Unix seconds now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn a_bundle_assignment_needs_an_active_license_a_release_and_a_bounded_expiry() {
    let h = Harness::new().await;
    let license = h.app_with_license().await;
    let id = license["id"].as_str().unwrap();
    let path = format!("/v1/licenses/{id}/bundle-assignment");
    let year = unix_now() + 365 * 86_400;
    h.post(&path, json!({"version": "9.9.9", "expires": year}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_release");
    for expires in [unix_now() - 1, unix_now() + 800 * 86_400] {
        h.post(&path, json!({"version": "9.9.9", "expires": expires}))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    h.post(
        "/v1/licenses/lic_nobody/bundle-assignment",
        json!({"version": "9.9.9", "expires": year}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_license");
}

#[tokio::test]
async fn a_status_receipt_records_an_air_gapped_install_once_and_refuses_a_replay() {
    let h = Harness::new().await;
    let license = h.app_with_license().await;
    let key_hash = hex::encode(Sha256::digest(license["key"].as_str().unwrap().as_bytes()));
    let host = driftless_wire::keys::generate_signing_key();
    let receipt = |install_id: String| driftless_bundle::Receipt {
        doc_type: "receipt".into(),
        install_id,
        app: APP.into(),
        public_key: driftless_wire::PublicKey::from_signing_key(&host),
        sequence: 1,
        previous: None,
        issued_at: unix_now(),
        status: json!({"status": "converged", "current_version": "1.0.0"}),
    };
    let env = driftless_bundle::sign_receipt(&receipt(format!("license-{key_hash}")), &host);
    let body = serde_json::to_value(&env).unwrap();
    let imported = h.post("/v1/receipts", body.clone()).await;
    assert_eq!(
        imported.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&imported.body)
    );
    let id = imported.json()["install_id"].as_str().unwrap().to_string();
    let installs = h.get("/v1/installs").await.json();
    let row = installs
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{installs}"));
    assert_eq!(row["hostname"], "air-gapped", "{row}");
    assert_eq!(row["current_version"], "1.0.0", "{row}");
    h.post("/v1/receipts", body)
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "receipt_refused");
    let stranger = driftless_bundle::sign_receipt(&receipt("license-0000".into()), &host);
    h.post("/v1/receipts", serde_json::to_value(&stranger).unwrap())
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "receipt_refused");
}

#[tokio::test]
async fn registering_with_a_wrong_license_is_403_invalid_license() {
    let h = Harness::new().await;
    h.app_with_license().await;
    h.register("dl_not_a_license", &generate_signing_key())
        .await
        .expect_error(StatusCode::FORBIDDEN, "invalid_license");
}

#[tokio::test]
async fn check_in_follows_the_channel_and_authenticates_the_install() {
    let h = Harness::new().await;
    let license = h.app_with_license().await;
    let license_key = license["key"].as_str().unwrap();
    let host_key = generate_signing_key();
    let reg = h.register(license_key, &host_key).await;
    assert_eq!(reg.status, StatusCode::CREATED);
    let install_id = reg.json()["install_id"].as_str().unwrap().to_string();
    assert_eq!(reg.json()["channel"], CHANNEL);

    // Nothing on the channel yet.
    let empty = h.checkin(&install_id, &host_key, request_ms(), None).await;
    assert_eq!(empty.status, StatusCode::OK);
    let body = empty.json();
    assert!(body["assignment"].is_null(), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );

    let doc = release_doc("1.0.0", 1);
    assert_eq!(
        h.upload(&signed(&doc, &h.release_key)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(h.promote("1.0.0").await.status, StatusCode::OK);

    let full = h.checkin(&install_id, &host_key, request_ms(), None).await;
    assert_eq!(full.status, StatusCode::OK);
    let body = full.json();
    assert!(body["assignment"].is_object(), "{body}");
    let release: Envelope = serde_json::from_value(body["release"].clone()).unwrap();
    let released: ReleaseDocument = release
        .decode(RELEASE_PAYLOAD_TYPE, "release document")
        .unwrap();
    assert_eq!(released, doc);
    let registry = &body["registry"];
    assert!(registry["expires_in"].as_u64().unwrap() >= 60, "{registry}");
    let claims = jwt_claims(registry["token"].as_str().unwrap());
    assert!(claims["aud"].is_string(), "aud must be a string: {claims}");
    assert_eq!(claims["aud"], "driftless-registry");
    assert_eq!(claims["sub"], install_id.as_str());
    let mut access: Vec<(String, Value)> = claims["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["type"], "repository", "{a}");
            (
                a["name"].as_str().unwrap().to_string(),
                a["actions"].clone(),
            )
        })
        .collect();
    access.sort_by(|a, b| a.0.cmp(&b.0));
    let expected: Vec<(String, Value)> = doc
        .repositories()
        .into_iter()
        .map(|r| (r, json!(["pull"])))
        .collect();
    assert_eq!(access, expected);

    let etag = full
        .headers
        .get(header::ETAG)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_string();
    let same = h
        .checkin(&install_id, &host_key, request_ms(), Some(&etag))
        .await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert!(same.body.is_empty(), "304 with a body: {:?}", same.body);

    h.checkin(&install_id, &generate_signing_key(), request_ms(), None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    h.checkin(&install_id, &host_key, request_ms() - 1_000_000, None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");

    let license_id = license["id"].as_str().unwrap();
    let revoked = h
        .post(&format!("/v1/licenses/{license_id}/revoke"), json!({}))
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    h.checkin(&install_id, &host_key, request_ms(), None)
        .await
        .expect_error(StatusCode::FORBIDDEN, "install_revoked");
}

#[tokio::test]
async fn the_token_endpoint_grants_the_operator_what_it_asks_and_challenges_anyone_else() {
    let h = Harness::new().await;
    let path = "/v1/registry/token?service=driftless-registry&scope=repository:app/web:pull,push";
    let basic = B64.encode(format!("operator:{OPERATOR_TOKEN}"));
    let req = Request::builder()
        .uri(path)
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::empty())
        .unwrap();
    let answer = h.send(req).await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert!(body["expires_in"].as_u64().unwrap() >= 60, "{body}");
    let claims = jwt_claims(body["token"].as_str().unwrap());
    assert_eq!(claims["sub"], "operator");
    assert_eq!(
        claims["access"],
        json!([{"type": "repository", "name": "app/web", "actions": ["pull", "push"]}])
    );

    let anonymous = Request::builder().uri(path).body(Body::empty()).unwrap();
    let answer = h.send(anonymous).await;
    assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
    answer.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // A malformed scope says what is wrong, and separately how to write one.
    let bad_scope = Request::builder()
        .uri("/v1/registry/token?service=driftless-registry&scope=repository")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::empty())
        .unwrap();
    let answer = h.send(bad_scope).await;
    let message = answer.expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(message, "scope `repository` is not valid (no `:`)");
    assert_eq!(
        answer.json()["hint"],
        "write it like repository:acme/compose:pull"
    );
}

/// The access claim of a JWT as `(repository, actions)` pairs, sorted.
fn access_of(token: &str) -> Vec<(String, Value)> {
    let claims = jwt_claims(token);
    let mut access: Vec<(String, Value)> = claims["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["actions"].clone(),
            )
        })
        .collect();
    access.sort_by(|a, b| a.0.cmp(&b.0));
    access
}

#[tokio::test]
async fn a_push_token_pushes_only_the_new_release_and_pulls_the_newest_to_mount_from() {
    let h = Harness::new().await;
    h.app_with_license().await;
    let path = format!("/v1/apps/{APP}/push-token");
    let first = h
        .post(
            &path,
            json!({"release_counter": 1, "repositories": ["acme/r1/web", "acme/r1/compose"]}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json());
    assert_eq!(
        access_of(first.json()["token"].as_str().unwrap()),
        [
            ("acme/r1/compose".to_string(), json!(["pull", "push"])),
            ("acme/r1/web".to_string(), json!(["pull", "push"])),
        ]
    );
    for (counter, version) in [(1, "1.0.0"), (2, "2.0.0"), (3, "3.0.0"), (4, "4.0.0")] {
        let doc = release_doc(version, counter);
        assert_eq!(
            h.upload(&signed(&doc, &h.release_key)).await.status,
            StatusCode::CREATED
        );
    }

    let next = h
        .post(
            &path,
            json!({"release_counter": 5, "repositories": ["acme/r5/web", "acme/r5/compose"]}),
        )
        .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.json());
    let mut expected = vec![
        ("acme/r5/compose".to_string(), json!(["pull", "push"])),
        ("acme/r5/web".to_string(), json!(["pull", "push"])),
    ];
    // Pull only, on the three newest releases: where the engine mounts layers from.
    for counter in [2, 3, 4] {
        for component in ["api", "compose", "web"] {
            expected.push((format!("acme/r{counter}/{component}"), json!(["pull"])));
        }
    }
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(access_of(next.json()["token"].as_str().unwrap()), expected);

    // An existing release's repositories can never be pushed to again.
    for counter in [1, 4] {
        let repo = format!("acme/r{counter}/web");
        let answer = h
            .post(
                &path,
                json!({"release_counter": counter, "repositories": [repo]}),
            )
            .await;
        let message = answer.expect_error(StatusCode::CONFLICT, "stale_counter");
        assert!(message.contains("not above 4"), "{message}");
        assert_eq!(answer.json()["hint"], "ask for release counter 5");
    }
    // Nor can a new release's token reach outside that release.
    for repo in [
        "acme/r4/web",
        "acme/web",
        "acme/r6/web",
        "other/r5/web",
        "acme/r5/a/b",
    ] {
        let answer = h
            .post(&path, json!({"release_counter": 5, "repositories": [repo]}))
            .await;
        let message = answer.expect_error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains(repo), "{message}");
        assert_eq!(answer.json()["hint"], "name it acme/r5/<service>");
    }
}

#[tokio::test]
async fn a_release_naming_repositories_not_its_own_is_refused() {
    let h = Harness::new().await;
    h.app_with_license().await;
    let mut shared = release_doc("1.0.0", 2);
    shared.images[0].repository = "acme/web".into();
    let mut older = release_doc("1.0.0", 2);
    older.descriptor.repository = "acme/r1/compose".into();
    for doc in [shared, older] {
        let answer = h.upload(&signed(&doc, &h.release_key)).await;
        let message = answer.expect_error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(
            message.contains("not a repository of release 2"),
            "{message}"
        );
    }
    let releases = h.get(&format!("/v1/apps/{APP}/releases")).await;
    assert_eq!(releases.json(), json!([]), "a refused release was stored");
}

/// `hash = hex(sha256(prev_hash || "\n" || canonical_json(event)))`, keys sorted.
fn chained_hash(prev: &str, e: &AuditEntry) -> String {
    let mut canonical = json!({
        "action": e.event.action,
        "actor": e.event.actor,
        "at": e.event.at,
        "detail": e.event.detail,
        "subject": e.event.subject,
    });
    // The request id is covered when there is one (keys stay sorted: serde_json's map).
    if !e.event.request_id.is_empty() {
        canonical["request_id"] = json!(e.event.request_id);
    }
    let canonical = canonical.to_string();
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.as_bytes());
    hex::encode(hasher.finalize())
}

#[tokio::test]
async fn the_audit_log_lists_every_action_in_order_and_each_hash_chains() {
    let h = Harness::new().await;
    let license = h.app_with_license().await;
    assert_eq!(
        h.upload(&signed(&release_doc("1.0.0", 1), &h.release_key))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(h.promote("1.0.0").await.status, StatusCode::OK);
    let reg = h
        .register(license["key"].as_str().unwrap(), &generate_signing_key())
        .await;
    assert_eq!(reg.status, StatusCode::CREATED);
    // A refused request is not an action.
    h.post("/v1/apps", json!({"name": APP})).await;

    let answer = h.get("/v1/audit").await;
    assert_eq!(answer.status, StatusCode::OK);
    let mut entries: Vec<AuditEntry> = serde_json::from_slice(&answer.body).unwrap();
    entries.sort_by_key(|e| e.seq);
    let actions: Vec<&str> = entries.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "app.create",
            "channel.create",
            "customer.create",
            "license.create",
            "release.publish",
            "channel.promote",
            "install.register",
        ]
    );
    let mut prev = "0".repeat(64);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
        assert_eq!(
            e.hash,
            chained_hash(&prev, e),
            "entry {} breaks the chain",
            e.seq
        );
        prev = e.hash.clone();
    }
}

/// `GET /v1/artifacts/{digest}` signed like the CLI signs it, naming `install_id`.
async fn get_artifact(h: &Harness, install_id: &str, key: &SigningKey, digest: &str) -> Answer {
    h.send(artifact_request(install_id, key, digest, request_ms()))
        .await
}

/// `GET /v1/artifacts/{digest}` signed at `timestamp` (Unix ms).
fn artifact_request(
    install_id: &str,
    key: &SigningKey,
    digest: &str,
    timestamp: i64,
) -> Request<Body> {
    let path = format!("/v1/artifacts/{digest}");
    signed_request(Method::GET, &path, key, timestamp, Vec::new())
        .header(INSTALL_HEADER, install_id)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn artifacts_are_stored_only_under_their_digest_and_served_to_signed_installs() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::with_artifacts(Some(dir.path().to_path_buf())).await;
    // Larger than the 4 MiB limit of every other route.
    let bytes: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::of(&bytes);
    let path = format!("/v1/artifacts/{digest}");

    let other = Digest::of(b"something else");
    h.operator_raw(
        Method::PUT,
        &format!("/v1/artifacts/{other}"),
        bytes.clone(),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a refused upload left a file"
    );
    let req = Request::builder()
        .method(Method::PUT)
        .uri(&path)
        .body(Body::from(bytes.clone()))
        .unwrap();
    h.send(req)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");

    for _ in 0..2 {
        let put = h.operator_raw(Method::PUT, &path, bytes.clone()).await;
        assert_eq!(
            put.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&put.body)
        );
        assert_eq!(put.json()["size"], bytes.len() as u64);
    }
    assert!(std::fs::read(dir.path().join(digest.hex())).unwrap() == bytes);
    let audit = h.get("/v1/audit?limit=10").await.json();
    let uploads = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["event"]["action"] == "artifact.upload" && e["event"]["subject"] == digest.as_str()
        })
        .count();
    assert_eq!(uploads, 2, "{audit}");

    let license = h.app_with_license().await;
    let key = generate_signing_key();
    let reg = h.register(license["key"].as_str().unwrap(), &key).await;
    let install_id = reg.json()["install_id"].as_str().unwrap().to_string();
    let got = get_artifact(&h, &install_id, &key, digest.as_str()).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.body == bytes, "the download differs from the upload");
    get_artifact(&h, &install_id, &generate_signing_key(), digest.as_str())
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    get_artifact(&h, &install_id, &key, other.as_str())
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_artifact");

    let license_id = license["id"].as_str().unwrap();
    h.post(&format!("/v1/licenses/{license_id}/revoke"), json!({}))
        .await;
    get_artifact(&h, &install_id, &key, digest.as_str())
        .await
        .expect_error(StatusCode::FORBIDDEN, "install_revoked");
}

#[tokio::test]
async fn artifacts_in_the_database_are_stored_under_their_digest_and_served_to_signed_installs() {
    let h = Harness::with_artifacts_in_database().await;
    let bytes: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    let digest = Digest::of(&bytes);
    let other = Digest::of(b"something else");
    h.operator_raw(
        Method::PUT,
        &format!("/v1/artifacts/{other}"),
        bytes.clone(),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        h.state
            .store
            .get_artifact(other.as_str())
            .await
            .unwrap()
            .is_none(),
        "a refused upload was stored"
    );
    let path = format!("/v1/artifacts/{digest}");
    let put = h.operator_raw(Method::PUT, &path, bytes.clone()).await;
    assert_eq!(put.status, StatusCode::CREATED);
    assert_eq!(put.json()["size"], bytes.len() as u64);
    let stored = h.state.store.get_artifact(digest.as_str()).await.unwrap();
    assert!(stored.as_deref() == Some(&bytes[..]), "not in the database");

    let license = h.app_with_license().await;
    let key = generate_signing_key();
    let reg = h.register(license["key"].as_str().unwrap(), &key).await;
    let install_id = reg.json()["install_id"].as_str().unwrap().to_string();
    let got = get_artifact(&h, &install_id, &key, digest.as_str()).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        got.headers[header::CONTENT_LENGTH],
        bytes.len().to_string().as_str()
    );
    assert!(got.body == bytes, "the download differs from the upload");
    get_artifact(&h, &install_id, &key, other.as_str())
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_artifact");
    get_artifact(&h, &install_id, &generate_signing_key(), digest.as_str())
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn a_control_plane_without_an_artifacts_dir_answers_404() {
    let h = Harness::new().await;
    let bytes = b"binary".to_vec();
    let path = format!("/v1/artifacts/{}", Digest::of(&bytes));
    h.operator_raw(Method::PUT, &path, bytes)
        .await
        .expect_error(StatusCode::NOT_FOUND, "no_artifact_store");
}

/// A harness with release 1.0.0 on the channel and one registered install; returns
/// the install's id and key.
async fn install_on_1_0_0(h: &Harness) -> (String, SigningKey) {
    let (id, key, _license) = install_on_release(h).await;
    (id, key)
}

/// Asserts a `401 replayed_request` whose body carries no token.
fn assert_replay_refused(answer: &Answer) {
    let message = answer.expect_error(StatusCode::UNAUTHORIZED, "replayed_request");
    assert!(message.contains("replay"), "{message}");
    assert!(
        answer.json()["hint"].is_string(),
        "no hint: {}",
        answer.json()
    );
    let body = String::from_utf8_lossy(&answer.body);
    assert!(
        !body.contains("token") && !body.contains("password"),
        "a refused replay carries a credential: {body}"
    );
}

/// The status the fleet view shows for `install_id`.
async fn fleet_status(h: &Harness, install_id: &str) -> Value {
    let fleet = h.get("/v1/installs").await.json();
    let install = fleet
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == install_id)
        .unwrap_or_else(|| panic!("{install_id} not in the fleet: {fleet}"))
        .clone();
    install["status"].clone()
}

#[tokio::test]
async fn a_replayed_check_in_is_refused_with_401_and_no_token() {
    let h = Harness::new().await;
    let (id, key) = install_on_1_0_0(&h).await;

    let t1 = request_ms();
    let first = h.send(checkin_request(&id, &key, t1, "converged")).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.json()["registry"]["token"].is_string());
    // The very same request, byte for byte: refused, and it hands out no token.
    assert_replay_refused(&h.send(checkin_request(&id, &key, t1, "converged")).await);

    let t2 = request_ms();
    let newer = h.send(checkin_request(&id, &key, t2, "applying")).await;
    assert_eq!(newer.status, StatusCode::OK);
    assert_eq!(fleet_status(&h, &id).await, "applying");
    // Replaying the older report does not overwrite what the host said last.
    assert_replay_refused(&h.send(checkin_request(&id, &key, t1, "converged")).await);
    assert_eq!(fleet_status(&h, &id).await, "applying");

    // A forged request does not move the install's clock: a later genuine one with
    // an earlier time than the forgery is still accepted.
    let forged_at = request_ms() + 10_000;
    h.send(checkin_request(
        &id,
        &generate_signing_key(),
        forged_at,
        "new",
    ))
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let genuine = h
        .send(checkin_request(&id, &key, request_ms(), "converged"))
        .await;
    assert_eq!(genuine.status, StatusCode::OK);
}

#[tokio::test]
async fn a_request_signed_with_a_timestamp_in_seconds_is_refused_with_a_hint() {
    let h = Harness::new().await;
    let (id, key) = install_on_1_0_0(&h).await;
    let answer = h.send(checkin_request(&id, &key, now(), "new")).await;
    let message = answer.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(message.contains("seconds"), "{message}");
    assert!(
        answer.json()["hint"]
            .as_str()
            .is_some_and(|h| h.contains("update driftless")),
        "{}",
        answer.json()
    );
}

#[tokio::test]
async fn a_replayed_artifact_download_is_refused_with_401() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::with_artifacts(Some(dir.path().to_path_buf())).await;
    let bytes = b"a driftless build".to_vec();
    let digest = Digest::of(&bytes);
    let put = h
        .operator_raw(
            Method::PUT,
            &format!("/v1/artifacts/{digest}"),
            bytes.clone(),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    let (id, key) = install_on_1_0_0(&h).await;

    let t = request_ms();
    let first = h
        .send(artifact_request(&id, &key, digest.as_str(), t))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.body == bytes);
    let replay = h
        .send(artifact_request(&id, &key, digest.as_str(), t))
        .await;
    assert_replay_refused(&replay);
    assert!(replay.body != bytes, "a replay was served the artifact");
    // Check-ins and downloads share one clock: a check-in at t is a replay too.
    assert_replay_refused(&h.send(checkin_request(&id, &key, t, "new")).await);
    let fresh = get_artifact(&h, &id, &key, digest.as_str()).await;
    assert_eq!(fresh.status, StatusCode::OK);
}

/// `POST /v1/installs/{id}/registry-login` signed at `timestamp` (Unix ms).
fn registry_login_request(install_id: &str, key: &SigningKey, timestamp: i64) -> Request<Body> {
    let path = format!("/v1/installs/{install_id}/registry-login");
    signed_request(Method::POST, &path, key, timestamp, Vec::new())
        .body(Body::empty())
        .unwrap()
}

/// The token endpoint's answer to `user:password` asking to pull `repo`.
async fn login_token(h: &Harness, user: &str, password: &str, repo: &str) -> Answer {
    let basic = B64.encode(format!("{user}:{password}"));
    let req = Request::builder()
        .uri(format!(
            "/v1/registry/token?service=driftless-registry&scope=repository:{repo}:pull"
        ))
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::empty())
        .unwrap();
    h.send(req).await
}

#[tokio::test]
async fn a_replayed_registry_login_is_refused_and_its_credential_pulls_the_release_only() {
    let h = Harness::new().await;
    let (id, key) = install_on_1_0_0(&h).await;

    let t = request_ms();
    let first = h.send(registry_login_request(&id, &key, t)).await;
    assert_eq!(
        first.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let login = first.json();
    assert_eq!(login["username"], id.as_str());
    assert_eq!(login["expires_in"], 600);
    let password = login["password"].as_str().unwrap().to_string();
    assert_replay_refused(&h.send(registry_login_request(&id, &key, t)).await);
    h.send(registry_login_request(
        &id,
        &generate_signing_key(),
        request_ms(),
    ))
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // `docker login` and then each `docker pull` present the credential again.
    let web = format!("{APP}/r1/web");
    for _ in 0..2 {
        let answer = login_token(&h, &id, &password, &web).await;
        assert_eq!(answer.status, StatusCode::OK);
        let claims = jwt_claims(answer.json()["token"].as_str().unwrap());
        assert_eq!(claims["sub"], id.as_str());
        assert_eq!(
            claims["access"],
            json!([{"type": "repository", "name": web, "actions": ["pull"]}])
        );
    }
    let elsewhere = login_token(&h, &id, &password, "other/web").await;
    assert_eq!(
        jwt_claims(elsewhere.json()["token"].as_str().unwrap())["access"],
        json!([])
    );

    // Only as issued, and only to its install.
    let (_, expires_sig) = password.split_once('.').unwrap();
    let (expires, sig) = expires_sig.split_once('.').unwrap();
    let later: i64 = expires.parse::<i64>().unwrap() + 3600;
    for forged in [
        format!("dlrl1.{later}.{sig}"),
        format!("dlrl1.{expires}.{}", &sig[1..]),
        format!("{}.{}", now(), B64.encode([0u8; 64])),
    ] {
        let answer = login_token(&h, &id, &forged, &web).await;
        assert!(
            answer.headers.contains_key(header::WWW_AUTHENTICATE),
            "{forged}"
        );
        answer.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let (other_id, _) = {
        let license = h
            .post(
                "/v1/licenses",
                json!({"customer": "Acme Corp", "app": APP, "channel": CHANNEL}),
            )
            .await
            .json();
        let other_key = generate_signing_key();
        let reg = h
            .register(license["key"].as_str().unwrap(), &other_key)
            .await;
        (
            reg.json()["install_id"].as_str().unwrap().to_string(),
            other_key,
        )
    };
    login_token(&h, &other_id, &password, &web)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");

    let audit = h.get("/v1/audit?limit=50").await.json();
    let logins = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["action"] == "install.registry_login")
        .count();
    assert_eq!(logins, 1, "one credential issued: {audit}");
}

/// `POST /v1/installs/{id}/registry-token` signed at `timestamp` (Unix ms).
fn registry_token_request(install_id: &str, key: &SigningKey, timestamp: i64) -> Request<Body> {
    let path = format!("/v1/installs/{install_id}/registry-token");
    signed_request(Method::POST, &path, key, timestamp, Vec::new())
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn a_renewed_registry_token_pulls_exactly_the_assigned_release_and_only_a_live_install_gets_one(
) {
    let h = Harness::new().await;
    let license = h.app_with_license().await;
    let key = generate_signing_key();
    let reg = h.register(license["key"].as_str().unwrap(), &key).await;
    let id = reg.json()["install_id"].as_str().unwrap().to_string();

    // Nothing assigned yet: nothing to pull, so no token.
    let none = h
        .send(registry_token_request(&id, &key, request_ms()))
        .await;
    let message = none.expect_error(StatusCode::CONFLICT, "no_assignment");
    assert!(message.contains(&id), "{message}");
    assert!(none.json()["hint"].is_string(), "{}", none.json());

    let doc = release_doc("1.0.0", 1);
    assert_eq!(
        h.upload(&signed(&doc, &h.release_key)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(h.promote("1.0.0").await.status, StatusCode::OK);
    let t = request_ms();
    let renewed = h.send(registry_token_request(&id, &key, t)).await;
    assert_eq!(
        renewed.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&renewed.body)
    );
    let body = renewed.json();
    assert_eq!(body["version"], "1.0.0", "{body}");
    let claims = jwt_claims(body["registry"]["token"].as_str().unwrap());
    assert_eq!(claims["sub"], id.as_str());
    let pull = |repo: String| json!({"type": "repository", "name": repo, "actions": ["pull"]});
    let mut granted = claims["access"].as_array().unwrap().clone();
    granted.sort_by_key(|a| a["name"].as_str().unwrap().to_string());
    let mut expected: Vec<Value> = doc.repositories().into_iter().map(pull).collect();
    expected.sort_by_key(|a| a["name"].as_str().unwrap().to_string());
    assert_eq!(granted, expected);
    assert_eq!(
        body["registry"]["expires_in"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        "{body}"
    );
    let audit = h.get("/v1/audit").await.json();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"]["action"] == "install.registry_token"
                && e["event"]["subject"] == id.as_str()),
        "{audit}"
    );

    // Accepted once, and only signed by the install's own key.
    assert_replay_refused(&h.send(registry_token_request(&id, &key, t)).await);
    h.send(registry_token_request(
        &id,
        &generate_signing_key(),
        request_ms(),
    ))
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // A revoked install gets no fresh token.
    let revoked = h
        .post(&format!("/v1/installs/{id}/revoke"), json!({}))
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let refused = h
        .send(registry_token_request(&id, &key, request_ms()))
        .await;
    refused.expect_error(StatusCode::FORBIDDEN, "install_revoked");
    assert!(
        !String::from_utf8_lossy(&refused.body).contains("eyJ"),
        "a refused renewal carries a token"
    );
}

/// `POST /v1/installs/{id}/uninstall` signed by `key` at `timestamp` (Unix ms).
fn uninstall_request(install_id: &str, key: &SigningKey, timestamp: i64) -> Request<Body> {
    let path = format!("/v1/installs/{install_id}/uninstall");
    let body = serde_json::to_vec(&json!({ "keep_data": true, "version": "1.0.0" })).unwrap();
    signed_request(Method::POST, &path, key, timestamp, body.clone())
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn an_uninstall_is_signed_accepted_once_and_hides_the_install_from_the_fleet() {
    let h = Harness::new().await;
    let (id, key) = install_on_1_0_0(&h).await;

    // Another key's request changes nothing.
    h.send(uninstall_request(
        &id,
        &generate_signing_key(),
        request_ms(),
    ))
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(fleet_status(&h, &id).await, "new");

    let t1 = request_ms();
    let done = h.send(uninstall_request(&id, &key, t1)).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT);
    // Hidden by default, listed as uninstalled when asked for.
    let active = h.get("/v1/installs").await.json();
    assert_eq!(active, json!([]), "{active}");
    for show in ["all", "uninstalled"] {
        let listed = h.get(&format!("/v1/installs?show={show}")).await.json();
        assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
        assert_eq!(listed[0]["status"], "uninstalled", "{listed}");
        assert_eq!(listed[0]["revoked"], true, "{listed}");
        assert!(listed[0]["uninstalled_at"].is_i64(), "{listed}");
    }
    h.get("/v1/installs?show=gone")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");

    // Its key is refused from now on, with a reason of its own.
    let message = h
        .send(checkin_request(&id, &key, request_ms(), "converged"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "install_uninstalled");
    assert!(message.contains("uninstalled"), "{message}");
    h.send(uninstall_request(&id, &key, request_ms()))
        .await
        .expect_error(StatusCode::FORBIDDEN, "install_uninstalled");

    let audit = h.get("/v1/audit").await.json();
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["action"] == "install.uninstall")
        .unwrap_or_else(|| panic!("no install.uninstall entry: {audit}"));
    assert_eq!(entry["event"]["actor"], format!("install:{id}"), "{entry}");
}

// --- /metrics ---

/// The scrape token the metrics tests configure.
const SCRAPE_TOKEN: &str = "dlscrape_test_token";

/// The harness's control plane with a scrape token and room for `max_in_flight`
/// requests at once (shared by the requests sent through one router).
fn with_metrics_settings(h: Harness, max_in_flight: usize) -> Harness {
    let mut state = h.state.clone();
    let metrics = driftless_server::MetricsConfig {
        scrape_token_sha256: Some(hex::encode(Sha256::digest(SCRAPE_TOKEN.as_bytes()))),
        ..Default::default()
    };
    state.config = Arc::new(ServerConfig {
        max_in_flight,
        metrics,
        ..(*h.state.config).clone()
    });
    Harness {
        state,
        release_key: h.release_key,
    }
}

/// `GET /metrics` with `token`.
async fn scrape_with(h: &Harness, token: Option<&str>) -> Answer {
    let mut req = Request::builder().method(Method::GET).uri("/metrics");
    if let Some(token) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    h.send(req.body(Body::empty()).unwrap()).await
}

/// One scrape, parsed: each sample's name and labels (in order, as written) to its
/// value.
async fn scrape(h: &Harness) -> Samples {
    let answer = scrape_with(h, Some(SCRAPE_TOKEN)).await;
    assert_eq!(answer.status, StatusCode::OK);
    Samples::parse(&String::from_utf8(answer.body).unwrap())
}

/// The samples of a scrape in the text format.
struct Samples(BTreeMap<(String, Vec<(String, String)>), f64>);

impl Samples {
    fn parse(text: &str) -> Samples {
        assert!(text.ends_with("# EOF\n"), "not OpenMetrics text: {text}");
        let mut samples = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').unwrap())),
                None => (series, Vec::new()),
            };
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value: {line}"));
            let old = samples.insert((name.to_string(), labels), value);
            assert!(old.is_none(), "sample written twice: {line}");
        }
        Samples(samples)
    }

    /// The value of `name` with exactly `labels`; 0 when there is no such sample (a
    /// counter not yet created).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut key: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        key.sort();
        self.0
            .iter()
            .find(|((n, l), _)| {
                let mut l = l.clone();
                l.sort();
                n == name && l == key
            })
            .map_or(0.0, |(_, v)| *v)
    }

    /// Whether a sample named `name` exists.
    fn has(&self, name: &str) -> bool {
        self.0.keys().any(|(n, _)| n == name)
    }
}

/// `a="x",b="y"` (values without quotes or commas, as the tests' are).
fn parse_labels(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (k.to_string(), v.trim_matches('"').to_string())
        })
        .collect()
}

/// A registered install of `acme`/`stable` with release 1.0.0 on the channel: its id
/// and key, and the license.
async fn install_on_release(h: &Harness) -> (String, SigningKey, Value) {
    let license = h.app_with_license().await;
    let doc = release_doc("1.0.0", 1);
    assert_eq!(
        h.upload(&signed(&doc, &h.release_key)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(h.promote("1.0.0").await.status, StatusCode::OK);
    let key = generate_signing_key();
    let reg = h.register(license["key"].as_str().unwrap(), &key).await;
    assert_eq!(reg.status, StatusCode::CREATED);
    let id = reg.json()["install_id"].as_str().unwrap().to_string();
    (id, key, license)
}

/// What the check-in counters moved by between two scrapes.
fn checkin_deltas(before: &Samples, after: &Samples) -> BTreeMap<&'static str, f64> {
    let answers = ["200", "304", "401", "403", "404", "503"];
    answers
        .into_iter()
        .map(|a| {
            let labels = [("answer", a)];
            let name = "driftless_checkins_total";
            (a, after.get(name, &labels) - before.get(name, &labels))
        })
        .collect()
}

#[tokio::test]
async fn metrics_count_each_check_in_answer_exactly_once() {
    let h = with_metrics_settings(Harness::new().await, 1);
    let (id, key, license) = install_on_release(&h).await;
    let before = scrape(&h).await;

    let full = h.checkin(&id, &key, request_ms(), None).await;
    assert_eq!(full.status, StatusCode::OK);
    let etag = full.headers[header::ETAG]
        .to_str()
        .unwrap()
        .trim_matches('"');
    let at = request_ms();
    let same = h.checkin(&id, &key, at, Some(etag)).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    h.checkin(&id, &key, at, Some(etag))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "replayed_request");
    h.checkin("ins_unknown", &key, request_ms(), None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_install");
    shed_one_checkin(&h, &id, &key).await;
    let license_id = license["id"].as_str().unwrap();
    let revoked = h
        .post(&format!("/v1/licenses/{license_id}/revoke"), json!({}))
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    h.checkin(&id, &key, request_ms(), None)
        .await
        .expect_error(StatusCode::FORBIDDEN, "install_revoked");

    let after = scrape(&h).await;
    let one = |a| (a, 1.0);
    let expected: BTreeMap<&str, f64> = ["200", "304", "401", "403", "404", "503"]
        .into_iter()
        .map(one)
        .collect();
    assert_eq!(checkin_deltas(&before, &after), expected);
    let moved = |name: &str| after.get(name, &[]) - before.get(name, &[]);
    assert_eq!(moved("driftless_replays_refused_total"), 1.0);
    // The probe that found the slot taken, and the check-in.
    assert_eq!(moved("driftless_load_shed_total"), 2.0);
    assert_eq!(moved("driftless_registry_tokens_minted_total"), 1.0);
    assert_eq!(moved("driftless_assignments_issued_total"), 1.0);
    // Routes are labelled by template, never by the install id in the path.
    let route = "/v1/installs/{id}/checkin";
    let by_route = |name: &str, labels: &[(&str, &str)]| {
        let mut all = vec![("method", "POST"), ("route", route)];
        all.extend_from_slice(labels);
        after.get(name, &all) - before.get(name, &all)
    };
    assert_eq!(
        by_route("driftless_http_requests_total", &[("status", "304")]),
        1.0
    );
    assert_eq!(
        by_route("driftless_http_request_duration_seconds_count", &[]),
        6.0
    );
    let replay = [("route", route), ("code", "replayed_request")];
    assert_eq!(after.get("driftless_http_errors_total", &replay), 1.0);
    assert!(!after
        .0
        .keys()
        .any(|(_, l)| l.iter().any(|(_, v)| v.contains(&id))));
    // The database saw the one check-in that changed something; the heartbeat was
    // answered from memory.
    let recorded = [("call", "record_checkin")];
    assert_eq!(
        after.get("driftless_store_call_duration_seconds_count", &recorded),
        1.0
    );
    assert!(after.get("process_resident_memory_bytes", &[]) > 0.0);
}

/// Holds the one request slot of a router with a request whose body never comes,
/// then checks in through the same router: the check-in is shed with `503`.
async fn shed_one_checkin(h: &Harness, id: &str, key: &SigningKey) {
    let app = router(h.state.clone());
    let (_body_tx, body_rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let stream = tokio_stream_of(body_rx);
    let held = Request::builder()
        .method(Method::POST)
        .uri("/v1/apps")
        .header(header::AUTHORIZATION, format!("Bearer {OPERATOR_TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap();
    let holder = tokio::spawn(app.clone().oneshot(held));
    // The held request takes the slot once it runs: probe until a probe is shed.
    loop {
        let probe = Request::get("/healthz").body(Body::empty()).unwrap();
        let answer = app.clone().oneshot(probe).await.unwrap();
        if answer.status() == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::task::yield_now().await;
    }
    let answer = app
        .clone()
        .oneshot(checkin_request(id, key, request_ms(), "new"))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    holder.abort();
}

/// A body stream fed by `rx`.
fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn fleet_and_rollout_gauges_are_computed_by_the_aggregate_and_stale_installs_counted() {
    let h = with_metrics_settings(Harness::new().await, 1024);
    let (id, key, license) = install_on_release(&h).await;
    let answer = checkin_reporting(&h, &id, &key, Some("1.0.0"), "converged", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    let second_key = generate_signing_key();
    let reg = h
        .register(license["key"].as_str().unwrap(), &second_key)
        .await;
    let second = reg.json()["install_id"].as_str().unwrap().to_string();
    // The second install last checked in four intervals ago: stale (the default is
    // three intervals of `next_checkin_s`).
    let long_ago = now() - 4 * h.state.config.next_checkin_s as i64;
    let report = driftless_store::CheckinReport {
        at: long_ago,
        status: "converged".into(),
        version: Some("1.0.0".into()),
        release_counter: Some(1),
        cli_version: "0.1.0".into(),
        free_disk_bytes: None,
        target_version: None,
        reason: None,
        policy: None,
        waiting: None,
    };
    h.state
        .store
        .record_checkin(&second, &report, None)
        .await
        .unwrap();
    let envelope = signed(&release_doc("2.0.0", 2), &h.release_key);
    assert_eq!(h.upload(&envelope).await.status, StatusCode::CREATED);
    let start = format!("/v1/apps/{APP}/channels/{CHANNEL}/rollouts");
    let rollout = json!({"version": "2.0.0", "waves": [10, 100], "interval_s": null,
                         "min_failures": 3, "max_failure_pct": 20});
    assert_eq!(h.post(&start, rollout).await.status, StatusCode::CREATED);

    let before = scrape(&h).await;
    assert!(
        !before.has("driftless_fleet_installs"),
        "no gauges before the aggregate"
    );
    h.state.aggregate_metrics().await.unwrap();
    let after = scrape(&h).await;
    let fleet = |status: &str, version: &str| {
        let labels = [
            ("app", APP),
            ("channel", CHANNEL),
            ("version", version),
            ("status", status),
            ("reason", ""),
        ];
        after.get("driftless_fleet_installs", &labels)
    };
    assert_eq!(fleet("converged", "1.0.0"), 2.0);
    let channel = [("app", APP), ("channel", CHANNEL)];
    assert_eq!(after.get("driftless_fleet_stale_installs", &channel), 1.0);
    assert_eq!(after.get("driftless_fleet_stale_after_seconds", &[]), 900.0);
    let rollout = |extra: Option<(&'static str, &'static str)>| {
        let mut labels: Vec<(&str, &str)> = vec![
            ("app", APP),
            ("channel", CHANNEL),
            ("rollout", "1"),
            ("version", "2.0.0"),
        ];
        labels.extend(extra);
        labels
    };
    let state = |s| after.get("driftless_rollout_state", &rollout(Some(("state", s))));
    assert_eq!((state("running"), state("halted")), (1.0, 0.0));
    assert_eq!(after.get("driftless_rollout_wave", &rollout(None)), 1.0);
    assert_eq!(
        after.get("driftless_rollout_wave_percent", &rollout(None)),
        10.0
    );
    let outcome = |o| after.get("driftless_rollout_installs", &rollout(Some(("outcome", o))));
    assert_eq!((outcome("tried"), outcome("failed")), (0.0, 0.0));
}

#[tokio::test]
async fn metrics_need_the_scrape_or_operator_token_and_the_scrape_token_reads_nothing_else() {
    let h = with_metrics_settings(Harness::new().await, 1024);
    scrape_with(&h, None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    scrape_with(&h, Some("dlscrape_wrong"))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    for token in [SCRAPE_TOKEN, OPERATOR_TOKEN] {
        let answer = scrape_with(&h, Some(token)).await;
        assert_eq!(answer.status, StatusCode::OK);
        let kind = answer.headers[header::CONTENT_TYPE].to_str().unwrap();
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    }
    let req = Request::builder()
        .uri("/v1/apps")
        .header(header::AUTHORIZATION, format!("Bearer {SCRAPE_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    h.send(req)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

/// `POST /v1/installs/{id}/support-bundles` of `bundle`, signed by `key` at `timestamp`.
fn support_bundle_request(
    install_id: &str,
    key: &SigningKey,
    timestamp: i64,
    bundle: &[u8],
) -> Request<Body> {
    let path = format!("/v1/installs/{install_id}/support-bundles");
    signed_request(Method::POST, &path, key, timestamp, bundle.to_vec())
        .body(Body::from(bundle.to_vec()))
        .unwrap()
}

#[tokio::test]
async fn a_support_bundle_is_taken_only_from_its_install_under_the_cap_and_served_to_the_vendor() {
    let h = Harness::new().await;
    let (id, key) = install_on_1_0_0(&h).await;
    let bundle = b"\x1f\x8b a support bundle".to_vec();

    // Signed by another key (another install's, or anyone's): refused, nothing stored.
    h.send(support_bundle_request(
        &id,
        &generate_signing_key(),
        request_ms(),
        &bundle,
    ))
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let path = format!("/v1/installs/{id}/support-bundles");
    assert_eq!(h.get(&path).await.json(), json!([]));

    let t = request_ms();
    let stored = h.send(support_bundle_request(&id, &key, t, &bundle)).await;
    assert_eq!(stored.status, StatusCode::CREATED);
    let info = stored.json();
    assert_eq!(info["size"], bundle.len(), "{info}");
    assert_eq!(info["install_id"], id.as_str(), "{info}");
    assert_replay_refused(&h.send(support_bundle_request(&id, &key, t, &bundle)).await);

    // One byte over the cap: a 413 that names the cap, and nothing stored.
    let cap = driftless_server::default_max_support_bundle_bytes();
    let oversized = vec![0u8; usize::try_from(cap).unwrap() + 1];
    let message = h
        .send(support_bundle_request(&id, &key, request_ms(), &oversized))
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "support_bundle_too_large");
    assert!(message.contains(&cap.to_string()), "{message}");

    let listed = h.get(&path).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let n = info["id"].as_u64().unwrap();
    let got = h.get(&format!("{path}/{n}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, bundle);
    h.get(&format!("{path}/{}", n + 1))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_support_bundle");
    h.get("/v1/installs/ins_nobody/support-bundles")
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_install");
    // The vendor's routes need the operator token.
    let anonymous = Request::builder().uri(&path).body(Body::empty()).unwrap();
    h.send(anonymous)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");

    let audit = h.get("/v1/audit").await.json();
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"]["action"].as_str().unwrap(),
                e["event"]["actor"].as_str().unwrap(),
            )
        })
        .filter(|(a, _)| a.starts_with("support_bundle."))
        .collect();
    let actor = format!("install:{id}");
    assert_eq!(
        actions,
        vec![
            ("support_bundle.download", "user:owner"),
            ("support_bundle.upload", actor.as_str())
        ],
        "{audit}"
    );
}

// --- Licenses with terms: seats, channels, expiry with grace, entitlements ---

/// Replaces license `id`'s terms; asserts they were accepted.
async fn set_terms(h: &Harness, id: &str, terms: Value) {
    let answer = h.post(&format!("/v1/licenses/{id}/terms"), terms).await;
    let text = String::from_utf8_lossy(&answer.body).into_owned();
    assert_eq!(answer.status, StatusCode::OK, "{text}");
}

fn etag_of(answer: &Answer) -> String {
    let tag = answer.headers.get(header::ETAG).unwrap().to_str().unwrap();
    tag.trim_matches('"').to_string()
}

/// The assignment a `200` carries, decoded (the signed payload's JSON).
fn assignment_payload(answer: &Answer) -> Value {
    let env: Envelope = serde_json::from_value(answer.json()["assignment"].clone()).unwrap();
    serde_json::from_slice(&env.payload_bytes().unwrap()).unwrap()
}

#[tokio::test]
async fn a_license_refuses_registrations_beyond_its_seats_and_channels_it_does_not_allow() {
    let h = Harness::new().await;
    let license = h.app_with_license().await;
    let (id, key) = (
        license["id"].as_str().unwrap(),
        license["key"].as_str().unwrap(),
    );
    h.post(&format!("/v1/apps/{APP}/channels"), json!({"name": "beta"}))
        .await;
    h.post(&format!("/v1/apps/{APP}/channels"), json!({"name": "edge"}))
        .await;
    set_terms(&h, id, json!({"seats": 1, "channels": [CHANNEL, "beta"]})).await;
    let shown = h.get(&format!("/v1/licenses/{id}")).await.json();
    assert_eq!(shown["terms"]["seats"], 1, "{shown}");
    // The license's own channel must stay allowed.
    h.post(
        &format!("/v1/licenses/{id}/terms"),
        json!({"channels": ["beta"]}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "bad_request");

    let first_key = generate_signing_key();
    let first = h.register(key, &first_key).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let first_id = first.json()["install_id"].as_str().unwrap().to_string();
    let refused = h
        .register(key, &generate_signing_key())
        .await
        .expect_error(StatusCode::FORBIDDEN, "license_no_seat");
    assert!(refused.contains("no seat left"), "{refused}");

    // Vendor side: a move to a channel the license does not allow.
    let move_to = |c: &str| json!({ "channel": c });
    h.post(&format!("/v1/installs/{first_id}/move"), move_to("edge"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "channel_not_allowed");
    let moved = h
        .post(&format!("/v1/installs/{first_id}/move"), move_to("beta"))
        .await;
    assert_eq!(moved.status, StatusCode::NO_CONTENT);
    // Host side: the license stops allowing the channel the install follows.
    set_terms(&h, id, json!({"seats": 1, "channels": [CHANNEL]})).await;
    h.checkin(&first_id, &first_key, request_ms(), None)
        .await
        .expect_error(StatusCode::FORBIDDEN, "channel_not_allowed");

    // A revoked install frees its seat.
    h.post(&format!("/v1/installs/{first_id}/revoke"), json!({}))
        .await;
    assert_eq!(
        h.register(key, &generate_signing_key()).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn entitlements_are_signed_into_the_assignment_and_a_change_reaches_the_host_without_a_release(
) {
    let h = Harness::new().await;
    let license = h.app_with_license().await;
    let id = license["id"].as_str().unwrap();
    let entitled = json!({"max_users": 50, "feature_sso": true, "tier": "gold"});
    set_terms(&h, id, json!({ "entitlements": entitled })).await;
    let host_key = generate_signing_key();
    let reg = h
        .register(license["key"].as_str().unwrap(), &host_key)
        .await;
    let install_id = reg.json()["install_id"].as_str().unwrap().to_string();
    h.upload(&signed(&release_doc("1.0.0", 1), &h.release_key))
        .await;
    h.promote("1.0.0").await;

    let first = h.checkin(&install_id, &host_key, request_ms(), None).await;
    assert_eq!(first.status, StatusCode::OK);
    let a = assignment_payload(&first);
    assert_eq!(a["entitlements"], entitled, "{a}");
    let tag = etag_of(&first);
    let same = h
        .checkin(&install_id, &host_key, request_ms(), Some(&tag))
        .await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);

    set_terms(&h, id, json!({ "entitlements": {"max_users": 60} })).await;
    let changed = h
        .checkin(&install_id, &host_key, request_ms(), Some(&tag))
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    let b = assignment_payload(&changed);
    assert_eq!(b["entitlements"], json!({"max_users": 60}), "{b}");
    assert_eq!(b["version"], "1.0.0", "same release");
    assert!(b["sequence"].as_u64() > a["sequence"].as_u64(), "{b}");

    // No entitlements: the field is left out of the signed bytes altogether.
    set_terms(&h, id, json!({})).await;
    let plain = h
        .checkin(
            &install_id,
            &host_key,
            request_ms(),
            Some(&etag_of(&changed)),
        )
        .await;
    assert!(assignment_payload(&plain).get("entitlements").is_none());
}

#[tokio::test]
async fn an_expired_license_warns_during_its_grace_then_refuses_check_ins_and_registrations() {
    let h = Harness::new().await;
    let license = h.app_with_license().await;
    let (id, key) = (
        license["id"].as_str().unwrap(),
        license["key"].as_str().unwrap(),
    );
    let host_key = generate_signing_key();
    let reg = h.register(key, &host_key).await;
    let install_id = reg.json()["install_id"].as_str().unwrap().to_string();
    h.upload(&signed(&release_doc("1.0.0", 1), &h.release_key))
        .await;
    h.promote("1.0.0").await;
    let valid = h.checkin(&install_id, &host_key, request_ms(), None).await;
    assert!(valid.json()["message"].is_null(), "{}", valid.json());
    let tag = etag_of(&valid);

    let expired_at = now() - 60;
    set_terms(&h, id, json!({"expires_at": expired_at, "grace_s": 86_400})).await;
    let warned = h
        .checkin(&install_id, &host_key, request_ms(), Some(&tag))
        .await;
    assert_eq!(warned.status, StatusCode::OK, "the host keeps running");
    let message = warned.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("license expired"), "{message}");
    let grace_tag = etag_of(&warned);
    assert_ne!(grace_tag, tag, "the warning changes the answer");
    let held = h
        .checkin(&install_id, &host_key, request_ms(), Some(&grace_tag))
        .await;
    assert_eq!(held.status, StatusCode::NOT_MODIFIED);

    set_terms(&h, id, json!({"expires_at": expired_at, "grace_s": 30})).await;
    let refused = h
        .checkin(&install_id, &host_key, request_ms(), Some(&grace_tag))
        .await
        .expect_error(StatusCode::FORBIDDEN, "license_expired");
    assert!(refused.contains("grace period is over"), "{refused}");
    h.register(key, &generate_signing_key())
        .await
        .expect_error(StatusCode::FORBIDDEN, "license_expired");

    // Renewed: the next check-in is answered again, without the warning.
    set_terms(&h, id, json!({"expires_at": now() + 86_400})).await;
    let renewed = h
        .checkin(&install_id, &host_key, request_ms(), Some(&grace_tag))
        .await;
    assert_eq!(renewed.status, StatusCode::OK);
    assert!(renewed.json()["message"].is_null());
}
