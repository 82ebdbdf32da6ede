#![allow(clippy::unwrap_used)]
//! The check-in hot path: sessions (HMAC check-ins), the check-in cache and how it is
//! kept in step with the database (in this process and across replicas), and
//! heartbeats answered from memory and written in batches.

use driftless_trust_fixtures::published_release;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_registry_token::{generate_key_material, TokenSigner};
use driftless_server::{router, AppState, Keys, ServerConfig};
use driftless_store::report_limits::MAX_VERSION_BYTES;
use driftless_store::Store;
use driftless_store_postgres::PgStore;
use driftless_store_sqlite::SqliteStore;
use driftless_test_support::postgres::fresh_database;
use driftless_wire::checkin::{
    request_signing_input, AUDIT_CHECKPOINT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use driftless_wire::keys::generate_signing_key;
use driftless_wire::release::ReleaseDocument;
use driftless_wire::root::{Role, RoleKeys, RootDocument};
use driftless_wire::session::{
    HostHandshake, SessionKey, SessionResponse, MAC_HEADER, SESSION_HEADER,
};
use driftless_wire::{Envelope, PublicKey, RELEASE_PAYLOAD_TYPE, ROOT_PAYLOAD_TYPE};
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

/// A request time in Unix milliseconds, never the same twice.
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

/// The keys a control plane signs with; every replica of one control plane shares them.
struct Trust {
    director: SigningKey,
    key_pem: String,
    cert_pem: String,
    root_env: Envelope,
    root: RootDocument,
    release_key: SigningKey,
    checkpoint: SigningKey,
}

impl Trust {
    fn new() -> Trust {
        let t = now();
        let root_key = generate_signing_key();
        let release_key = generate_signing_key();
        let director = generate_signing_key();
        let material = generate_key_material("driftless registry token", t).unwrap();
        let mut keys = BTreeMap::new();
        let mut roles = BTreeMap::new();
        for (role, key) in [
            (Role::Root, &root_key),
            (Role::Release, &release_key),
            (Role::Director, &director),
        ] {
            let p = PublicKey::from_signing_key(key);
            roles.insert(
                role,
                RoleKeys {
                    keyids: vec![p.key_id()],
                    threshold: 1,
                },
            );
            keys.insert(p.key_id(), p);
        }
        let root = RootDocument {
            doc_type: "root".into(),
            version: 1,
            expires: t + 365 * 86400,
            keys,
            roles,
            registry_token_cert_sha256: None,
            checkpoint: None,
        };
        let root_env = Envelope::sign(
            ROOT_PAYLOAD_TYPE,
            &serde_json::to_vec(&root).unwrap(),
            &[&root_key],
        );
        Trust {
            director,
            key_pem: material.key_pem,
            cert_pem: material.cert_pem,
            root_env,
            root,
            release_key,
            checkpoint: generate_signing_key(),
        }
    }

    /// A replica's state over `store`.
    fn state(&self, store: impl Store + 'static, session_lifetime_s: i64) -> AppState {
        let config = ServerConfig {
            rollout_tick_s: 3600,
            session_lifetime_s,
            heartbeat_flush_ms: 50,
            ..ServerConfig::new(
                "127.0.0.1:5000",
                true,
                hex::encode(Sha256::digest(OPERATOR_TOKEN.as_bytes())),
            )
        };
        let keys = Keys {
            director: self.director.clone(),
            tokens: TokenSigner::from_pem(&self.key_pem, &self.cert_pem).unwrap(),
            checkpoint: Some(self.checkpoint.clone()),
            roots: vec![self.root_env.clone()],
            root: self.root.clone(),
        };
        AppState::new(Arc::new(store), keys, config)
    }
}

struct Answer {
    status: StatusCode,
    etag: Option<String>,
    /// The tree size the audit checkpoint header names.
    audit_size: Option<u64>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn expect_error(&self, status: StatusCode, code: &str) {
        let text = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, status, "body: {text}");
        assert_eq!(self.json()["code"], code, "body: {text}");
    }

    /// The version of the assignment in a `200`.
    fn assigned_version(&self) -> String {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let env: Envelope = serde_json::from_value(self.json()["assignment"].clone()).unwrap();
        let payload: Value = serde_json::from_slice(&env.payload_bytes().unwrap()).unwrap();
        payload["version"].as_str().unwrap().to_string()
    }
}

async fn send(state: &AppState, req: Request<Body>) -> Answer {
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let etag = resp
        .headers()
        .get(header::ETAG)
        .map(|v| v.to_str().unwrap().trim_matches('"').to_string());
    let audit_size = resp
        .headers()
        .get(AUDIT_CHECKPOINT_HEADER)
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        etag,
        audit_size,
        body,
    }
}

async fn operator(state: &AppState, method: Method, path: &str, body: Value) -> Answer {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {OPERATOR_TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    send(state, req).await
}

fn release_doc(version: &str, counter: u64) -> ReleaseDocument {
    published_release(APP, &version.parse().unwrap(), counter, &["web"], now())
}

/// Uploads release `version` (counter `counter`) signed by the release key.
async fn upload(state: &AppState, trust: &Trust, version: &str, counter: u64) {
    let env = Envelope::sign(
        RELEASE_PAYLOAD_TYPE,
        &serde_json::to_vec(&release_doc(version, counter)).unwrap(),
        &[&trust.release_key],
    );
    let path = format!("/v1/apps/{APP}/releases");
    let answer = operator(state, Method::POST, &path, json!({ "envelope": env })).await;
    assert_eq!(answer.status, StatusCode::CREATED);
}

async fn promote(state: &AppState, version: &str) {
    let path = format!("/v1/apps/{APP}/channels/{CHANNEL}/promote");
    let answer = operator(state, Method::POST, &path, json!({ "version": version })).await;
    assert_eq!(answer.status, StatusCode::OK);
}

/// App, channel, customer, license and release 1.0.0 on the channel; returns the
/// license key.
async fn seed(state: &AppState, trust: &Trust) -> String {
    operator(state, Method::POST, "/v1/apps", json!({"name": APP})).await;
    let path = format!("/v1/apps/{APP}/channels");
    for channel in [CHANNEL, "beta"] {
        operator(state, Method::POST, &path, json!({ "name": channel })).await;
    }
    operator(
        state,
        Method::POST,
        "/v1/customers",
        json!({"name": "Acme"}),
    )
    .await;
    let license = operator(
        state,
        Method::POST,
        "/v1/licenses",
        json!({"customer": "Acme", "app": APP, "channel": CHANNEL}),
    )
    .await;
    assert_eq!(license.status, StatusCode::CREATED);
    upload(state, trust, "1.0.0", 1).await;
    promote(state, "1.0.0").await;
    license.json()["key"].as_str().unwrap().to_string()
}

/// A registered host: its id and key, and its session once opened.
struct Host {
    id: String,
    key: SigningKey,
    session: Option<(String, SessionKey)>,
}

async fn register(state: &AppState, license_key: &str) -> Host {
    let key = generate_signing_key();
    let body = json!({
        "license_key": license_key,
        "public_key": PublicKey::from_signing_key(&key).public,
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
    let answer = send(state, req).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    Host {
        id: answer.json()["install_id"].as_str().unwrap().to_string(),
        key,
        session: None,
    }
}

fn signed(path: &str, key: &SigningKey, ts: i64, body: &[u8]) -> axum::http::request::Builder {
    let sig = key.sign(&request_signing_input("POST", path, ts, body));
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, B64.encode(sig.to_bytes()))
}

impl Host {
    /// Opens a session through `state`; returns the answer.
    async fn open_session(&mut self, state: &AppState) -> Answer {
        let handshake = HostHandshake::new();
        let path = format!("/v1/installs/{}/session", self.id);
        let body = serde_json::to_vec(&handshake.request()).unwrap();
        let req = signed(&path, &self.key, request_ms(), &body)
            .body(Body::from(body))
            .unwrap();
        let answer = send(state, req).await;
        if answer.status == StatusCode::OK {
            let response: SessionResponse = serde_json::from_slice(&answer.body).unwrap();
            let key = handshake.finish(&self.id, &response).unwrap();
            self.session = Some((response.session_id, key));
        }
        answer
    }

    fn body(status: &str, version: Option<&str>) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "release_counter": null,
            "version": version,
            "status": status,
            "cli_version": "0.1.0",
            "platform": "linux/amd64",
            "free_disk_bytes": 1_000_000_000u64,
        }))
        .unwrap()
    }

    /// A check-in MACed with the host's session at `ts`.
    fn mac_checkin(
        &self,
        ts: i64,
        status: &str,
        version: Option<&str>,
        etag: Option<&str>,
    ) -> Request<Body> {
        let (session_id, key) = self.session.as_ref().unwrap();
        let path = format!("/v1/installs/{}/checkin", self.id);
        let body = Host::body(status, version);
        let mac = key.mac("POST", &path, ts, &body);
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(&path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(SESSION_HEADER, session_id.as_str())
            .header(MAC_HEADER, B64.encode(mac));
        if let Some(tag) = etag {
            req = req.header(header::IF_NONE_MATCH, format!("\"{tag}\""));
        }
        req.body(Body::from(body)).unwrap()
    }

    /// A check-in signed with the host's key at `ts`.
    fn signed_checkin(
        &self,
        ts: i64,
        status: &str,
        version: Option<&str>,
        etag: Option<&str>,
    ) -> Request<Body> {
        let path = format!("/v1/installs/{}/checkin", self.id);
        let body = Host::body(status, version);
        let mut req = signed(&path, &self.key, ts, &body);
        if let Some(tag) = etag {
            req = req.header(header::IF_NONE_MATCH, format!("\"{tag}\""));
        }
        req.body(Body::from(body)).unwrap()
    }

    /// Checks in with the session until converged on what it is given: a `200`, then
    /// the `304` of a heartbeat. Returns the ETag it holds.
    async fn converge(&self, state: &AppState) -> String {
        let first = send(
            state,
            self.mac_checkin(request_ms(), "applying", None, None),
        )
        .await;
        let version = first.assigned_version();
        let tag = first.etag.clone().unwrap();
        let converged = send(
            state,
            self.mac_checkin(request_ms(), "converged", Some(&version), Some(&tag)),
        )
        .await;
        assert_eq!(converged.status, StatusCode::NOT_MODIFIED);
        let heartbeat = send(
            state,
            self.mac_checkin(request_ms(), "converged", Some(&version), Some(&tag)),
        )
        .await;
        assert_eq!(heartbeat.status, StatusCode::NOT_MODIFIED);
        tag
    }
}

async fn single() -> (Trust, AppState, String) {
    let trust = Trust::new();
    let state = trust.state(SqliteStore::open("sqlite::memory:").await.unwrap(), 86_400);
    let license = seed(&state, &trust).await;
    (trust, state, license)
}

/// The last report time and status the database holds for `id`.
async fn stored_report(state: &AppState, id: &str) -> (i64, String) {
    let rows = state.store.list_installs(None).await.unwrap();
    let report = rows
        .into_iter()
        .find(|r| r.install.id == id)
        .and_then(|r| r.last_report)
        .unwrap();
    (report.at, report.status)
}

#[tokio::test]
async fn a_session_macs_check_ins_that_converge_to_304() {
    let (_trust, state, license) = single().await;
    let mut host = register(&state, &license).await;
    let opened = host.open_session(&state).await;
    assert_eq!(opened.status, StatusCode::OK);
    let expires_at = opened.json()["expires_at"].as_i64().unwrap();
    assert!((expires_at - now() - 86_400).abs() < 10, "{expires_at}");
    let tag = host.converge(&state).await;
    // Old CLIs' signed check-ins are still accepted, and get the same answer.
    let signed = send(
        &state,
        host.signed_checkin(request_ms(), "converged", Some("1.0.0"), Some(&tag)),
    )
    .await;
    assert_eq!(signed.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn a_wrong_mac_is_401_and_changes_nothing() {
    let (_trust, state, license) = single().await;
    let mut host = register(&state, &license).await;
    host.open_session(&state).await;
    let tag = host.converge(&state).await;
    let mut req = host.mac_checkin(request_ms(), "failed", Some("1.0.0"), Some(&tag));
    let forged = B64.encode([7u8; 32]);
    req.headers_mut()
        .insert(MAC_HEADER, forged.parse().unwrap());
    send(&state, req)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(stored_report(&state, &host.id).await.1, "converged");
    // A MAC that is not 32 bytes of base64 is refused the same way.
    let mut req = host.mac_checkin(request_ms(), "failed", Some("1.0.0"), Some(&tag));
    req.headers_mut()
        .insert(MAC_HEADER, "bm90IGEgbWFj".parse().unwrap());
    send(&state, req)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn another_installs_or_an_unknown_session_is_session_expired() {
    let (_trust, state, license) = single().await;
    let mut a = register(&state, &license).await;
    let mut b = register(&state, &license).await;
    a.open_session(&state).await;
    b.open_session(&state).await;
    // A's session, MACed with A's key, sent as a check-in of B.
    let mut thief = Host {
        id: b.id.clone(),
        key: b.key.clone(),
        session: a.session.clone(),
    };
    send(&state, thief.mac_checkin(request_ms(), "new", None, None))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "session_expired");
    thief.session.as_mut().unwrap().0 = "ses_unknown".into();
    send(&state, thief.mac_checkin(request_ms(), "new", None, None))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "session_expired");
    // B's own session still works.
    let answer = send(&state, b.mac_checkin(request_ms(), "new", None, None)).await;
    assert_eq!(answer.assigned_version(), "1.0.0");
}

#[tokio::test]
async fn an_expired_or_replaced_session_is_session_expired() {
    let trust = Trust::new();
    let state = trust.state(SqliteStore::open("sqlite::memory:").await.unwrap(), 0);
    let license = seed(&state, &trust).await;
    let mut host = register(&state, &license).await;
    host.open_session(&state).await;
    send(&state, host.mac_checkin(request_ms(), "new", None, None))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "session_expired");

    let (_trust, state, license) = single().await;
    let mut host = register(&state, &license).await;
    host.open_session(&state).await;
    let old = host.session.clone();
    host.open_session(&state).await;
    let answer = send(&state, host.mac_checkin(request_ms(), "new", None, None)).await;
    assert_eq!(answer.status, StatusCode::OK, "the new session works");
    host.session = old;
    send(&state, host.mac_checkin(request_ms(), "new", None, None))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "session_expired");
}

#[tokio::test]
async fn a_replayed_maced_check_in_is_refused_heartbeat_or_not() {
    let (_trust, state, license) = single().await;
    let mut host = register(&state, &license).await;
    host.open_session(&state).await;
    let tag = host.converge(&state).await;
    // A heartbeat, answered from memory, then the same bytes again.
    let t = request_ms();
    let beat = send(
        &state,
        host.mac_checkin(t, "converged", Some("1.0.0"), Some(&tag)),
    )
    .await;
    assert_eq!(beat.status, StatusCode::NOT_MODIFIED);
    send(
        &state,
        host.mac_checkin(t, "converged", Some("1.0.0"), Some(&tag)),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "replayed_request");
    // A transition, written to the database, then the same bytes again.
    let t = request_ms();
    let change = send(
        &state,
        host.mac_checkin(t, "applying", Some("1.0.0"), Some(&tag)),
    )
    .await;
    assert_eq!(change.status, StatusCode::NOT_MODIFIED);
    send(
        &state,
        host.mac_checkin(t, "applying", Some("1.0.0"), Some(&tag)),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "replayed_request");
    // An older request that was never sent is refused too: not newer than the newest.
    send(
        &state,
        host.mac_checkin(t - 5, "converged", Some("1.0.0"), Some(&tag)),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "replayed_request");
}

#[tokio::test]
async fn a_heartbeat_replayed_after_its_install_was_reloaded_is_still_refused() {
    let (_trust, state, license) = single().await;
    let mut host = register(&state, &license).await;
    host.open_session(&state).await;
    let tag = host.converge(&state).await;
    let t = request_ms();
    let beat = send(
        &state,
        host.mac_checkin(t, "converged", Some("1.0.0"), Some(&tag)),
    )
    .await;
    assert_eq!(beat.status, StatusCode::NOT_MODIFIED);
    // Moving the install drops its cache entry; the heartbeat is not written yet.
    let path = format!("/v1/installs/{}/move", host.id);
    let moved = operator(&state, Method::POST, &path, json!({ "channel": "beta" })).await;
    assert_eq!(
        moved.status,
        StatusCode::NO_CONTENT,
        "{}",
        String::from_utf8_lossy(&moved.body)
    );
    assert_eq!(state.pending_heartbeats(), 1);
    send(
        &state,
        host.mac_checkin(t, "converged", Some("1.0.0"), Some(&tag)),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "replayed_request");
}

/// A control plane that has not seen an install yet (restarted, or another replica, or
/// past its cache entry's lifetime: at a check-in interval of minutes, every check-in)
/// takes an unchanged report as a heartbeat, not a write, and still refuses a replay of
/// what was accepted before it loaded the install.
#[tokio::test]
async fn a_converged_host_is_a_heartbeat_to_a_control_plane_that_never_saw_it() {
    let trust = Trust::new();
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    let before = trust.state(store.clone(), 86_400);
    let license = seed(&before, &trust).await;
    let mut host = register(&before, &license).await;
    host.open_session(&before).await;
    let tag = host.converge(&before).await;
    let old = request_ms();
    let beat = host.mac_checkin(old, "converged", Some("1.0.0"), Some(&tag));
    assert_eq!(send(&before, beat).await.status, StatusCode::NOT_MODIFIED);
    assert_eq!(before.flush_heartbeats().await.unwrap(), 1);

    let after = trust.state(store, 86_400);
    // The first request it sees: a replay of one accepted before.
    send(
        &after,
        host.mac_checkin(old, "converged", Some("1.0.0"), Some(&tag)),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "replayed_request");
    assert_eq!(after.pending_heartbeats(), 0);

    // The same report, newer: answered, and queued for the batch, not written.
    let t = request_ms();
    let beat = send(
        &after,
        host.mac_checkin(t, "converged", Some("1.0.0"), Some(&tag)),
    )
    .await;
    assert_eq!(beat.status, StatusCode::NOT_MODIFIED);
    assert_eq!(after.pending_heartbeats(), 1, "a heartbeat, not a write");
    send(
        &after,
        host.mac_checkin(t, "converged", Some("1.0.0"), Some(&tag)),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "replayed_request");

    // A changed report is still written before its answer.
    let change = send(
        &after,
        host.mac_checkin(request_ms(), "applying", Some("1.0.0"), Some(&tag)),
    )
    .await;
    assert_eq!(change.status, StatusCode::NOT_MODIFIED);
    assert_eq!(stored_report(&after, &host.id).await.1, "applying");
    assert_eq!(after.pending_heartbeats(), 1, "only the earlier heartbeat");
}

#[tokio::test]
async fn a_revoked_install_with_a_live_session_is_refused_at_once() {
    let (_trust, state, license) = single().await;
    let mut host = register(&state, &license).await;
    host.open_session(&state).await;
    let tag = host.converge(&state).await;
    let path = format!("/v1/installs/{}/revoke", host.id);
    assert_eq!(
        operator(&state, Method::POST, &path, json!({}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    send(
        &state,
        host.mac_checkin(request_ms(), "converged", Some("1.0.0"), Some(&tag)),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "install_revoked");
    // Nor can it open a new session.
    host.open_session(&state)
        .await
        .expect_error(StatusCode::FORBIDDEN, "install_revoked");
}

#[tokio::test]
async fn a_promote_is_seen_by_the_very_next_check_in() {
    let (trust, state, license) = single().await;
    let mut host = register(&state, &license).await;
    host.open_session(&state).await;
    let tag = host.converge(&state).await;
    upload(&state, &trust, "2.0.0", 2).await;
    promote(&state, "2.0.0").await;
    let answer = send(
        &state,
        host.mac_checkin(request_ms(), "converged", Some("1.0.0"), Some(&tag)),
    )
    .await;
    assert_eq!(answer.assigned_version(), "2.0.0");
}

/// The claims of a registry token (a JWT), unverified.
fn token_claims(answer: &Answer) -> Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let token = answer.json()["registry"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let claims = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
}

#[tokio::test]
async fn a_token_renewal_is_answered_from_memory_and_its_replay_refused() {
    let (_trust, state, license) = single().await;
    let mut host = register(&state, &license).await;
    host.open_session(&state).await;
    let tag = host.converge(&state).await;
    state.flush_heartbeats().await.unwrap();

    // The same report without the ETag: the install only needs a registry token.
    let t = request_ms();
    let renewal = send(
        &state,
        host.mac_checkin(t, "converged", Some("1.0.0"), None),
    )
    .await;
    assert_eq!(renewal.assigned_version(), "1.0.0");
    assert_eq!(renewal.etag.as_deref(), Some(tag.as_str()));
    let stored = state.store.checkin_view(&host.id).await.unwrap().unwrap();
    let stored: Value = serde_json::from_str(&stored.assignment.unwrap().envelope).unwrap();
    assert_eq!(
        renewal.json()["assignment"],
        stored,
        "the held assignment, as signed"
    );
    let claims = token_claims(&renewal);
    assert_eq!(claims["sub"], host.id.as_str());
    assert_eq!(claims["access"][0]["actions"], json!(["pull"]));
    assert_eq!(
        state.pending_heartbeats(),
        1,
        "nothing written before the answer: its last-seen time waits for the flush"
    );
    assert_eq!(state.flush_heartbeats().await.unwrap(), 1);

    // The same request again, or an older one, is refused like any replay.
    for replay in [t, t - 5] {
        send(
            &state,
            host.mac_checkin(replay, "converged", Some("1.0.0"), None),
        )
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "replayed_request");
    }
    // A transition without the ETag is written before its answer.
    let applying = send(
        &state,
        host.mac_checkin(request_ms(), "applying", Some("1.0.0"), None),
    )
    .await;
    assert_eq!(applying.assigned_version(), "1.0.0");
    assert_eq!(stored_report(&state, &host.id).await.1, "applying");
    assert_eq!(state.pending_heartbeats(), 0);
}

#[tokio::test]
async fn a_token_renewal_after_a_promote_gets_the_new_assignment() {
    let (trust, state, license) = single().await;
    let mut host = register(&state, &license).await;
    host.open_session(&state).await;
    host.converge(&state).await;
    state.flush_heartbeats().await.unwrap();
    upload(&state, &trust, "2.0.0", 2).await;
    promote(&state, "2.0.0").await;
    let answer = send(
        &state,
        host.mac_checkin(request_ms(), "converged", Some("1.0.0"), None),
    )
    .await;
    assert_eq!(answer.assigned_version(), "2.0.0");
    assert_eq!(state.pending_heartbeats(), 0, "a new assignment is written");
}

#[tokio::test]
async fn heartbeats_are_written_by_the_flush_and_transitions_before_the_answer() {
    let (_trust, state, license) = single().await;
    let mut host = register(&state, &license).await;
    host.open_session(&state).await;
    let tag = host.converge(&state).await;
    state.flush_heartbeats().await.unwrap();
    let (seen_before, _) = stored_report(&state, &host.id).await;

    // A transition: in the database as soon as it is answered.
    let answer = send(
        &state,
        host.mac_checkin(request_ms(), "applying", Some("1.0.0"), Some(&tag)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_MODIFIED);
    assert_eq!(stored_report(&state, &host.id).await.1, "applying");
    assert_eq!(state.pending_heartbeats(), 0);

    // Heartbeats: answered, queued, and written by the flush.
    let clock = now();
    while now() == clock {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answer = send(
        &state,
        host.mac_checkin(request_ms(), "applying", Some("1.0.0"), Some(&tag)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_MODIFIED);
    assert_eq!(state.pending_heartbeats(), 1);
    let (unflushed, status) = stored_report(&state, &host.id).await;
    assert_eq!(status, "applying");
    assert!(unflushed >= seen_before);
    assert_eq!(state.flush_heartbeats().await.unwrap(), 1);
    let (flushed, status) = stored_report(&state, &host.id).await;
    assert_eq!(status, "applying");
    assert!(
        flushed > unflushed,
        "last seen {flushed} after the flush, {unflushed} before"
    );
    assert_eq!(state.pending_heartbeats(), 0);
}

/// Whether `host`'s converged check-ins to `state` (running `version`, holding `tag`) are
/// answered `status` within `within`.
async fn answered_within(
    within: Duration,
    state: &AppState,
    host: &Host,
    version: &str,
    tag: &str,
    status: StatusCode,
) -> bool {
    eventually(within, async || {
        let checkin = host.mac_checkin(request_ms(), "converged", Some(version), Some(tag));
        send(state, checkin).await.status == status
    })
    .await
}

/// Polls `check` until it returns true or `within` passes.
async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_change_through_one_replica_is_seen_by_another_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("driftless.db").display());
    let trust = Trust::new();
    let a = trust.state(SqliteStore::open(&url).await.unwrap(), 86_400);
    let b = trust.state(SqliteStore::open(&url).await.unwrap(), 86_400);
    let upkeep = driftless_server::spawn_upkeep(b.clone());
    let license = seed(&a, &trust).await;
    let mut host = register(&a, &license).await;
    // The session is opened through A, the check-ins go to B.
    host.open_session(&a).await;
    let tag = host.converge(&b).await;
    assert!(b.cached_installs() >= 1);

    upload(&a, &trust, "2.0.0", 2).await;
    promote(&a, "2.0.0").await;
    let seen = answered_within(
        Duration::from_secs(5),
        &b,
        &host,
        "1.0.0",
        &tag,
        StatusCode::OK,
    )
    .await;
    assert!(seen, "replica B never saw the promote made through A");

    let tag = host.converge(&b).await;
    let path = format!("/v1/installs/{}/revoke", host.id);
    assert_eq!(
        operator(&a, Method::POST, &path, json!({})).await.status,
        StatusCode::NO_CONTENT
    );
    let refused = answered_within(
        Duration::from_secs(5),
        &b,
        &host,
        "2.0.0",
        &tag,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        refused,
        "replica B kept accepting an install revoked through A"
    );
    upkeep.abort();
}

/// A heartbeat batch that cannot write does not hold up the change feed: a revocation
/// made while it waits is seen by the replica within the feed's bound all the same.
/// On PostgreSQL, where a row lock held by another session makes the batch wait for
/// as long as it is held, and the revocation (another install's row) does not wait.
#[tokio::test]
async fn a_stuck_heartbeat_batch_does_not_hold_up_the_change_feed() {
    use sqlx::Connection as _;
    // `None` (after a notice) only outside CI, where PostgreSQL may not be installed.
    let Some(db) = fresh_database() else { return };
    let trust = Trust::new();
    let a = trust.state(PgStore::open(db.url()).await.unwrap(), 86_400);
    let b = trust.state(PgStore::open(db.url()).await.unwrap(), 86_400);
    let license = seed(&a, &trust).await;
    let mut revoked = register(&a, &license).await;
    let mut stuck = register(&a, &license).await;
    revoked.open_session(&a).await;
    stuck.open_session(&a).await;
    let revoked_tag = revoked.converge(&b).await;
    let stuck_tag = stuck.converge(&b).await;
    // Converging queued both installs' heartbeats: written now, before the upkeep
    // starts, so that no batch of the upkeep's holds the stuck install's row but the one
    // the test means to hold up. (An empty queue only says a batch was taken: one still
    // writing both rows when the lock below is taken would wait on it holding the
    // revoked install's row, and the revocation would wait on that batch.)
    b.flush_heartbeats().await.unwrap();
    // B reads what converging wrote to the change feed now, not in the upkeep's first
    // polls: those would drop the installs it keeps at a moment the test cannot tell.
    b.follow_changes().await.unwrap();
    let upkeep = driftless_server::spawn_upkeep(b.clone());
    // The host about to be revoked checks in to B, which keeps its install, and the
    // upkeep writes that heartbeat (seen in the database, not just taken from the queue).
    let beat_ms = request_ms();
    let beat = revoked.mac_checkin(beat_ms, "converged", Some("1.0.0"), Some(&revoked_tag));
    assert_eq!(send(&b, beat).await.status, StatusCode::NOT_MODIFIED);
    let written = eventually(Duration::from_secs(5), async || {
        let view = a.store.checkin_view(&revoked.id).await.unwrap().unwrap();
        view.newest_request_ms >= beat_ms
    })
    .await;
    assert!(written, "replica B never wrote its heartbeat");

    // Another session locks the other install's row; that host checks in to B, and
    // B's batch takes its heartbeat and waits on the lock.
    let mut locker = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("SELECT 1 FROM installs WHERE id = $1 FOR UPDATE")
        .bind(&stuck.id)
        .execute(&mut locker)
        .await
        .unwrap();
    let stuck_ms = request_ms();
    let beat = stuck.mac_checkin(stuck_ms, "converged", Some("1.0.0"), Some(&stuck_tag));
    assert_eq!(send(&b, beat).await.status, StatusCode::NOT_MODIFIED);
    let taken = eventually(Duration::from_secs(5), async || b.pending_heartbeats() == 0).await;
    assert!(taken, "replica B's batch never took the heartbeat");
    // B keeps both installs now: the next heartbeat waits behind the stuck batch.
    let beat = revoked.mac_checkin(request_ms(), "converged", Some("1.0.0"), Some(&revoked_tag));
    assert_eq!(send(&b, beat).await.status, StatusCode::NOT_MODIFIED);
    assert_eq!(b.pending_heartbeats(), 1);
    assert_eq!(b.cached_installs(), 2);

    let path = format!("/v1/installs/{}/revoke", revoked.id);
    // Bounded: were a batch holding the revoked install's row, the revocation would
    // wait on it for as long as the lock is held, and the test with it.
    let revoke = tokio::time::timeout(
        Duration::from_secs(30),
        operator(&a, Method::POST, &path, json!({})),
    )
    .await
    .expect("the revocation waited on replica B's stuck heartbeat batch");
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    let refused = answered_within(
        Duration::from_secs(3),
        &b,
        &revoked,
        "1.0.0",
        &revoked_tag,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        refused,
        "replica B served a revoked install while its heartbeat batch waited"
    );
    let view = a.store.checkin_view(&stuck.id).await.unwrap().unwrap();
    assert!(
        view.newest_request_ms < stuck_ms,
        "the batch was still waiting when the revocation was seen"
    );
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    upkeep.abort();
}

/// Bytes the database takes per table and index (SQLite's `dbstat`).
async fn table_bytes(url: &str) -> BTreeMap<String, i64> {
    use sqlx::Connection as _;
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    rows.into_iter().collect()
}

/// Bytes per install (registered, with a session, given an assignment, its
/// registration audited), measured over many installs: the control plane must hold 1M in under 1 GB.
#[tokio::test]
async fn an_install_with_its_assignment_and_audit_entry_takes_under_1_kb() {
    const INSTALLS: i64 = 400;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("driftless.db").display());
    let trust = Trust::new();
    let state = trust.state(SqliteStore::open(&url).await.unwrap(), 86_400);
    let license = seed(&state, &trust).await;
    let before = table_bytes(&url).await;
    for _ in 0..INSTALLS {
        let mut host = register(&state, &license).await;
        assert_eq!(host.open_session(&state).await.status, StatusCode::OK);
        let answer = send(
            &state,
            host.mac_checkin(request_ms(), "converged", Some("1.0.0"), None),
        )
        .await;
        assert_eq!(answer.assigned_version(), "1.0.0");
    }
    // The feed's entries (one per session opened) are pruned after an hour.
    state.store.prune_changes(i64::MAX).await.unwrap();
    let after = table_bytes(&url).await;
    let mut report = String::new();
    let mut total = 0;
    for (name, bytes) in &after {
        let grown = bytes - before.get(name).copied().unwrap_or(0);
        total += grown;
        report.push_str(&format!("{name}: {} B/install\n", grown / INSTALLS));
    }
    let per_install = total / INSTALLS;
    eprintln!("{report}total: {per_install} B/install");
    assert!(per_install < 1024, "{per_install} B per install:\n{report}");
}

/// A check-in reporting a text longer than the store keeps (here a 3 KB version, which
/// PostgreSQL's summary index cannot hold) is refused with `422 report_too_long`, and
/// nothing it reported is stored; one at the limit is stored. On both backends.
#[tokio::test]
async fn a_report_longer_than_the_store_keeps_is_422_and_changes_nothing() {
    let trust = Trust::new();
    let sqlite = SqliteStore::open("sqlite::memory:").await.unwrap();
    refuses_a_too_long_report(&trust, trust.state(sqlite, 86_400)).await;
    // `None` (after a notice) only outside CI, where PostgreSQL may not be installed.
    if let Some(db) = fresh_database() {
        let pg = PgStore::open(db.url()).await.unwrap();
        refuses_a_too_long_report(&trust, trust.state(pg, 86_400)).await;
    }
}

async fn refuses_a_too_long_report(trust: &Trust, state: AppState) {
    let license = seed(&state, trust).await;
    let mut host = register(&state, &license).await;
    host.open_session(&state).await;
    host.converge(&state).await;
    state.flush_heartbeats().await.unwrap();
    let before = stored_report(&state, &host.id).await;

    let long = "1".repeat(3000);
    let refused_at = request_ms();
    let refused = send(
        &state,
        host.mac_checkin(refused_at, "failed:health", Some(&long), None),
    )
    .await;
    refused.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "report_too_long");
    let message = refused.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("`version` is 3000 bytes"), "{message}");
    assert_eq!(stored_report(&state, &host.id).await, before);

    // The refused request did not move the replay clock either: a request signed at
    // the same instant is still accepted.
    let longest = "1".repeat(MAX_VERSION_BYTES);
    let accepted = send(
        &state,
        host.mac_checkin(refused_at, "failed:health", Some(&longest), None),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::OK);
    let summary = state.store.fleet_summary(Some(APP)).await.unwrap();
    assert!(
        summary
            .counts
            .iter()
            .any(|c| c.version.as_deref() == Some(longest.as_str())),
        "{summary:?}"
    );
}

/// Asks for the newest audit checkpoint as `host`, naming the tree size it saw.
async fn witness(state: &AppState, host: &Host, since: u64) -> Answer {
    let path = format!("/v1/installs/{}/audit-checkpoint", host.id);
    let body = json!({ "since": since }).to_string();
    let req = signed(&path, &host.key, request_ms(), body.as_bytes())
        .body(Body::from(body))
        .unwrap();
    send(state, req).await
}

#[tokio::test]
async fn check_in_answers_name_the_newest_audit_checkpoint_and_a_host_can_fetch_it() {
    let (_trust, state, license) = single().await;
    let mut host = register(&state, &license).await;
    host.open_session(&state).await;
    let signed = operator(&state, Method::POST, "/v1/audit/checkpoint", json!({})).await;
    assert_eq!(signed.status, StatusCode::OK);
    let env: Envelope = serde_json::from_slice(&signed.body).unwrap();
    let cp: Value = serde_json::from_slice(&env.payload_bytes().unwrap()).unwrap();
    let size = cp["tree_size"].as_u64().unwrap();

    let tag = host.converge(&state).await;
    // The heartbeat's `304`, answered from memory, names it too.
    let beat = send(
        &state,
        host.mac_checkin(request_ms(), "converged", Some("1.0.0"), Some(&tag)),
    )
    .await;
    assert_eq!(beat.status, StatusCode::NOT_MODIFIED);
    assert_eq!(beat.audit_size, Some(size));

    let answer = witness(&state, &host, size).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["hash_at_since"], cp["head"]);
    assert_eq!(
        answer.json()["checkpoint"],
        serde_json::to_value(&env).unwrap()
    );
    // A size the log never reached: no hash to state.
    let beyond = witness(&state, &host, size + 1000).await;
    assert_eq!(beyond.status, StatusCode::OK);
    assert!(
        beyond.json().get("hash_at_since").is_none(),
        "{}",
        beyond.json()
    );
}
