#![allow(clippy::unwrap_used)]
//! The control plane's HTTP API in process: the real router over an in-memory SQLite
//! store, called with `tower::ServiceExt::oneshot`, no network.

use std::collections::BTreeMap;
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
use driftless_wire::release::{DescriptorRef, HealthSpec, ReleaseDocument, ReleaseImage};
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
        };
        let envelope = Envelope::sign(
            ROOT_PAYLOAD_TYPE,
            &serde_json::to_vec(&root).unwrap(),
            &refs,
        );
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let config = ServerConfig {
            registry_host: "127.0.0.1:5000".into(),
            registry_insecure: true,
            token_service: "driftless-registry".into(),
            token_issuer: "driftless".into(),
            token_lifetime_s: driftless_registry_token::DEFAULT_LIFETIME_S,
            assignment_lifetime_s: 6 * 3600,
            next_checkin_s: 300,
            operator_token_sha256: hex::encode(Sha256::digest(OPERATOR_TOKEN.as_bytes())),
            rollout_tick_s: 5,
            artifacts_dir,
        };
        let keys = driftless_server::Keys {
            director,
            tokens,
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

    /// A check-in signed like the CLI signs it, with `key` at `timestamp`.
    async fn checkin(
        &self,
        install_id: &str,
        key: &SigningKey,
        timestamp: i64,
        etag: Option<&str>,
    ) -> Answer {
        let path = format!("/v1/installs/{install_id}/checkin");
        let body = serde_json::to_vec(&json!({
            "release_counter": null,
            "version": null,
            "status": "new",
            "cli_version": "0.1.0",
            "platform": "linux/amd64",
            "free_disk_bytes": 1_000_000_000u64,
        }))
        .unwrap();
        let sig = key.sign(&request_signing_input("POST", &path, timestamp, &body));
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(&path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, B64.encode(sig.to_bytes()));
        if let Some(tag) = etag {
            req = req.header(header::IF_NONE_MATCH, format!("\"{tag}\""));
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }
}

/// A release document of `acme` with two images and the compose descriptor, each in
/// the release's own repository.
fn release_doc(version: &str, counter: u64) -> ReleaseDocument {
    let t = now();
    let image = |service: &str| ReleaseImage {
        service: service.into(),
        repository: format!("{APP}/r{counter}/{service}"),
        digest: Digest::of(format!("{service}-{version}").as_bytes()),
        platforms: vec!["linux/amd64".into()],
        size: 1024,
    };
    ReleaseDocument {
        doc_type: "release".into(),
        app: APP.into(),
        version: version.parse().unwrap(),
        release_counter: counter,
        created_at: t,
        expires: t + 86400,
        images: vec![image("web"), image("api")],
        descriptor: DescriptorRef {
            repository: format!("{APP}/r{counter}/compose"),
            manifest_digest: Digest::of(b"manifest"),
            digest: Digest::of(b"compose"),
            size: 7,
        },
        config_schema: vec![],
        health: HealthSpec::default(),
        min_cli_version: "0.1.0".parse().unwrap(),
        rollback_floor: 0,
        cli: vec![],
        notes: None,
    }
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
    assert_eq!(yanked.status, StatusCode::NO_CONTENT);
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
    assert_eq!(restored.status, StatusCode::NO_CONTENT);
    assert_eq!(h.promote("2.0.0").await.status, StatusCode::OK);
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
    let empty = h.checkin(&install_id, &host_key, now(), None).await;
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

    let full = h.checkin(&install_id, &host_key, now(), None).await;
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
    let same = h.checkin(&install_id, &host_key, now(), Some(&etag)).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert!(same.body.is_empty(), "304 with a body: {:?}", same.body);

    h.checkin(&install_id, &generate_signing_key(), now(), None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    h.checkin(&install_id, &host_key, now() - 1000, None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");

    let license_id = license["id"].as_str().unwrap();
    let revoked = h
        .post(&format!("/v1/licenses/{license_id}/revoke"), json!({}))
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    h.checkin(&install_id, &host_key, now(), None)
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
    let canonical = json!({
        "action": e.event.action,
        "actor": e.event.actor,
        "at": e.event.at,
        "detail": e.event.detail,
        "subject": e.event.subject,
    })
    .to_string();
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
    let path = format!("/v1/artifacts/{digest}");
    let ts = now();
    let sig = key.sign(&request_signing_input("GET", &path, ts, b""));
    let req = Request::builder()
        .method(Method::GET)
        .uri(&path)
        .header(INSTALL_HEADER, install_id)
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, B64.encode(sig.to_bytes()))
        .body(Body::empty())
        .unwrap();
    h.send(req).await
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
async fn a_control_plane_without_an_artifacts_dir_answers_404() {
    let h = Harness::new().await;
    let bytes = b"binary".to_vec();
    let path = format!("/v1/artifacts/{}", Digest::of(&bytes));
    h.operator_raw(Method::PUT, &path, bytes)
        .await
        .expect_error(StatusCode::NOT_FOUND, "no_artifact_store");
}
