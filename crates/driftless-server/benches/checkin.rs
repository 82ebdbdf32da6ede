//! What a converged check-in (`304`) costs the control plane in process: the real
//! router over an SQLite file, on one thread, requests built beforehand, so the figure
//! is the server's work without HTTP parsing or the network. Run with
//! `cargo bench -p driftless-server --bench checkin`; the load generator measures the
//! whole server over HTTP.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_registry_token::{generate_key_material, TokenSigner};
use driftless_server::{router, AppState, Keys, ServerConfig};
use driftless_store_sqlite::SqliteStore;
use driftless_wire::checkin::{request_signing_input, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use driftless_wire::keys::generate_signing_key;
use driftless_wire::release::{DescriptorRef, HealthSpec, ReleaseDocument, ReleaseImage};
use driftless_wire::root::{Role, RoleKeys, RootDocument};
use driftless_wire::session::{
    HostHandshake, SessionKey, SessionResponse, MAC_HEADER, SESSION_HEADER,
};
use driftless_wire::{Digest, Envelope, PublicKey, RELEASE_PAYLOAD_TYPE, ROOT_PAYLOAD_TYPE};
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;

const TOKEN: &str = "dlop_bench";
const INSTALLS: usize = 1000;
/// Converged check-ins per run unless `BENCH_CHECKIN_REQUESTS` says otherwise (a small
/// number makes the run short enough for `valgrind --tool=callgrind`, whose
/// instruction counts do not depend on what else the machine is doing).
const REQUESTS: usize = 100_000;

fn requests() -> usize {
    std::env::var("BENCH_CHECKIN_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(REQUESTS)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn state(store: SqliteStore) -> (AppState, SigningKey) {
    let t = now_ms() / 1000;
    let (root_key, release_key, director) = (
        generate_signing_key(),
        generate_signing_key(),
        generate_signing_key(),
    );
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
        expires: t + 86400,
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
    let material = generate_key_material("bench", t).unwrap();
    let config = ServerConfig {
        token_lifetime_s: 300,
        rollout_tick_s: 3600,
        ..ServerConfig::new(
            "127.0.0.1:5000",
            true,
            hex::encode(Sha256::digest(TOKEN.as_bytes())),
        )
    };
    let keys = Keys {
        director,
        tokens: TokenSigner::from_pem(&material.key_pem, &material.cert_pem).unwrap(),
        checkpoint: None,
        roots: vec![root_env],
        root,
    };
    (AppState::new(Arc::new(store), keys, config), release_key)
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, Option<String>, Vec<u8>) {
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let etag = resp
        .headers()
        .get(header::ETAG)
        .map(|v| v.to_str().unwrap().trim_matches('"').to_string());
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap()
        .to_vec();
    (status, etag, body)
}

async fn operator(state: &AppState, path: &str, body: Value) -> Value {
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    let (status, _, body) = send(state, req).await;
    assert!(
        status.is_success(),
        "{path}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

fn release(key: &SigningKey) -> Envelope {
    let t = now_ms() / 1000;
    let doc = ReleaseDocument {
        doc_type: "release".into(),
        app: "acme".into(),
        version: "1.0.0".parse().unwrap(),
        release_counter: 1,
        created_at: t,
        expires: t + 86400,
        images: vec![ReleaseImage {
            service: "web".into(),
            repository: "acme/r1/web".into(),
            digest: Digest::of(b"web"),
            platforms: vec!["linux/amd64".into()],
            size: 1,
        }],
        descriptor: DescriptorRef {
            repository: "acme/r1/compose".into(),
            manifest_digest: Digest::of(b"m"),
            digest: Digest::of(b"c"),
            size: 1,
        },
        config_schema: vec![],
        health: HealthSpec::default(),
        min_cli_version: "0.1.0".parse().unwrap(),
        rollback_floor: 0,
        cli: vec![],
        notes: None,
        urgent: false,
        migrations: Default::default(),
        preflight: Default::default(),
        sboms: Vec::new(),
    };
    Envelope::sign(
        RELEASE_PAYLOAD_TYPE,
        &serde_json::to_vec(&doc).unwrap(),
        &[key],
    )
}

struct Host {
    id: String,
    key: SigningKey,
    session: (String, SessionKey),
    etag: String,
}

const BODY: &[u8] = br#"{"release_counter":1,"version":"1.0.0","status":"converged","cli_version":"0.1.0","platform":"linux/amd64","free_disk_bytes":1000000000}"#;

fn signed(path: &str, key: &SigningKey, ts: i64, body: &[u8]) -> axum::http::request::Builder {
    let sig = key.sign(&request_signing_input("POST", path, ts, body));
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, B64.encode(sig.to_bytes()))
}

fn maced(host: &Host, ts: i64) -> Request<Body> {
    let path = format!("/v1/installs/{}/checkin", host.id);
    let mac = host.session.1.mac("POST", &path, ts, BODY);
    Request::builder()
        .method(Method::POST)
        .uri(&path)
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SESSION_HEADER, host.session.0.as_str())
        .header(MAC_HEADER, B64.encode(mac))
        .header(header::IF_NONE_MATCH, format!("\"{}\"", host.etag))
        .body(Body::from(BODY))
        .unwrap()
}

fn signed_checkin(host: &Host, ts: i64) -> Request<Body> {
    let path = format!("/v1/installs/{}/checkin", host.id);
    signed(&path, &host.key, ts, BODY)
        .header(header::IF_NONE_MATCH, format!("\"{}\"", host.etag))
        .body(Body::from(BODY))
        .unwrap()
}

async fn setup(state: &AppState, release_key: &SigningKey) -> Vec<Host> {
    operator(state, "/v1/apps", json!({"name": "acme"})).await;
    operator(state, "/v1/apps/acme/channels", json!({"name": "stable"})).await;
    operator(state, "/v1/customers", json!({"name": "c"})).await;
    let license = operator(
        state,
        "/v1/licenses",
        json!({"customer": "c", "app": "acme", "channel": "stable"}),
    )
    .await;
    operator(
        state,
        "/v1/apps/acme/releases",
        json!({"envelope": release(release_key)}),
    )
    .await;
    operator(
        state,
        "/v1/apps/acme/channels/stable/promote",
        json!({"version": "1.0.0"}),
    )
    .await;
    let mut hosts = Vec::new();
    for _ in 0..INSTALLS {
        let key = generate_signing_key();
        let reg = json!({"license_key": license["key"], "public_key": PublicKey::from_signing_key(&key).public,
                         "hostname": "h", "platform": "linux/amd64", "cli_version": "0.1.0"});
        let req = Request::builder()
            .method(Method::POST)
            .uri("/v1/installs")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&reg).unwrap()))
            .unwrap();
        let (_, _, body) = send(state, req).await;
        let id = serde_json::from_slice::<Value>(&body).unwrap()["install_id"]
            .as_str()
            .unwrap()
            .to_string();
        let handshake = HostHandshake::new();
        let path = format!("/v1/installs/{id}/session");
        let hs_body = serde_json::to_vec(&handshake.request()).unwrap();
        let req = signed(&path, &key, now_ms(), &hs_body)
            .body(Body::from(hs_body))
            .unwrap();
        let (_, _, body) = send(state, req).await;
        let answer: SessionResponse = serde_json::from_slice(&body).unwrap();
        let session_key = handshake.finish(&id, &answer).unwrap();
        let path = format!("/v1/installs/{id}/checkin");
        let req = signed(&path, &key, now_ms() + 1, BODY)
            .body(Body::from(BODY))
            .unwrap();
        let (status, etag, _) = send(state, req).await;
        assert_eq!(status, StatusCode::OK);
        hosts.push(Host {
            id,
            key,
            session: (answer.session_id, session_key),
            etag: etag.unwrap(),
        });
    }
    hosts
}

async fn run(state: &AppState, what: &str, requests: Vec<Request<Body>>) {
    let n = requests.len();
    // Built once, as `serve` does; a clone is a reference count.
    let app = router(state.clone());
    let start = Instant::now();
    let mut not_modified = 0;
    for req in requests {
        let resp = app.clone().oneshot(req).await.unwrap();
        if resp.status() == StatusCode::NOT_MODIFIED {
            not_modified += 1;
        }
    }
    let took = start.elapsed();
    println!(
        "{what}: {n} check-ins in {:.2}s: {:.0}/s, {:.1} µs each; {not_modified} answered 304",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64
    );
    assert_eq!(not_modified, n, "every check-in of the run must be a 304");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let (state, release_key) = state(SqliteStore::open(&url).await.unwrap());
        let hosts = setup(&state, &release_key).await;
        let base = now_ms() + 10;
        let requests = requests();
        let maced: Vec<_> = (0..requests)
            .map(|i| maced(&hosts[i % INSTALLS], base + (i / INSTALLS) as i64))
            .collect();
        run(&state, "session (HMAC) heartbeat", maced).await;
        state.flush_heartbeats().await.unwrap();
        let base = now_ms() + 10_000;
        let signed: Vec<_> = (0..requests / 10)
            .map(|i| signed_checkin(&hosts[i % INSTALLS], base + (i / INSTALLS) as i64))
            .collect();
        run(&state, "signed (Ed25519) heartbeat", signed).await;
    });
}
