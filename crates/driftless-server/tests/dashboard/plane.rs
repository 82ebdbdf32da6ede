//! A control plane served on loopback for the dashboard's tests, the operator's API
//! calls that set up a fleet, and hosts that check in with real signed requests.

use driftless_trust_fixtures::published_release;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_server::AppState;
use driftless_store_sqlite::SqliteStore;
use driftless_wire::checkin::{request_signing_input, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use driftless_wire::keys::generate_signing_key;
use driftless_wire::release::ReleaseDocument;
use driftless_wire::{Envelope, PublicKey, RELEASE_PAYLOAD_TYPE};
use ed25519_dalek::{Signer as _, SigningKey};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{now, state_with_key, OPERATOR_TOKEN};

pub use crate::support::OPERATOR_TOKEN as TOKEN;

pub const APP: &str = "acme";
pub const CHANNEL: &str = "stable";

/// A control plane listening on a loopback port, stopped when dropped.
pub struct Plane {
    pub url: String,
    pub state: AppState,
    pub http: reqwest::Client,
    release_key: SigningKey,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Plane {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A host: its install id and key.
pub struct Host {
    pub id: String,
    key: SigningKey,
}

impl Plane {
    /// Serves a fresh control plane over an in-memory SQLite database.
    pub async fn start() -> Plane {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let (state, release_key) = state_with_key(Arc::new(store), 0);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let serving = state.clone();
        let server = tokio::spawn(async move {
            driftless_server::serve(listener, serving, std::future::pending())
                .await
                .unwrap();
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Plane {
            url,
            state,
            http,
            release_key,
            server,
        }
    }

    /// An operator API call; panics unless it answers 2xx.
    pub async fn api(&self, path: &str, body: Value) -> Value {
        let answer = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// App `acme`, channel `stable` on 1.0.0, release 2.0.0 published, and a license;
    /// returns the license key.
    pub async fn fleet_of_one_app(&self) -> String {
        self.api("/v1/apps", json!({"name": APP})).await;
        self.api(
            &format!("/v1/apps/{APP}/channels"),
            json!({"name": CHANNEL}),
        )
        .await;
        self.api("/v1/customers", json!({"name": "Acme Corp"}))
            .await;
        for (version, counter) in [("1.0.0", 1), ("2.0.0", 2)] {
            let envelope = Envelope::sign(
                RELEASE_PAYLOAD_TYPE,
                &serde_json::to_vec(&release_doc(version, counter)).unwrap(),
                &[&self.release_key],
            );
            let path = format!("/v1/apps/{APP}/releases");
            self.api(&path, json!({ "envelope": envelope })).await;
        }
        let promote = format!("/v1/apps/{APP}/channels/{CHANNEL}/promote");
        self.api(&promote, json!({"version": "1.0.0"})).await;
        let license = json!({"customer": "Acme Corp", "app": APP, "channel": CHANNEL});
        let license = self.api("/v1/licenses", license).await;
        license["key"].as_str().unwrap().to_string()
    }

    /// Starts a one-wave rollout of 2.0.0 that halts once two installs fail it.
    pub async fn start_rollout(&self) {
        let path = format!("/v1/apps/{APP}/channels/{CHANNEL}/rollouts");
        let request = json!({"version": "2.0.0", "waves": [100], "interval_s": null,
                             "min_failures": 2, "max_failure_pct": 20});
        self.api(&path, request).await;
    }

    /// Registers a host named `hostname` under `license_key`.
    pub async fn register(&self, license_key: &str, hostname: &str) -> Host {
        let key = generate_signing_key();
        let body = json!({
            "license_key": license_key,
            "public_key": PublicKey::from_signing_key(&key).public,
            "hostname": hostname,
            "platform": "linux/amd64",
            "cli_version": "0.1.0",
        });
        let answer = self
            .http
            .post(format!("{}/v1/installs", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::CREATED);
        let reg: Value = answer.json().await.unwrap();
        Host {
            id: reg["install_id"].as_str().unwrap().to_string(),
            key,
        }
    }

    /// A check-in of `host` signed like the CLI signs it, reporting it runs `version`
    /// with `status` having tried `target`; returns the answer's body.
    pub async fn check_in(
        &self,
        host: &Host,
        version: &str,
        status: &str,
        target: Option<&str>,
    ) -> Value {
        let path = format!("/v1/installs/{}/checkin", host.id);
        let body = serde_json::to_vec(&json!({
            "release_counter": if version == "1.0.0" { 1 } else { 2 },
            "version": version,
            "status": status,
            "cli_version": "0.1.0",
            "platform": "linux/amd64",
            "free_disk_bytes": 1_000_000_000u64,
            "target_version": target,
            "reason": status.starts_with("failed:").then(|| json!({"code": "health_failed",
                "detail": "web exited"})),
        }))
        .unwrap();
        // Milliseconds, newer than the host's previous request.
        let ms = now_ms();
        let sig = host
            .key
            .sign(&request_signing_input("POST", &path, ms, &body));
        let answer = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, ms.to_string())
            .header(SIGNATURE_HEADER, B64.encode(sig.to_bytes()))
            .body(body)
            .send()
            .await
            .unwrap();
        let status_code = answer.status();
        let text = answer.text().await.unwrap();
        assert_eq!(status_code, StatusCode::OK, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Runs the rollout ticker once, now.
    pub async fn tick(&self) {
        driftless_server::rollout_tick(&self.state, now())
            .await
            .unwrap();
    }
}

/// Unix milliseconds, strictly increasing within this process (two check-ins of one
/// host in the same millisecond would be refused as a replay).
fn now_ms() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let prev = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(wall.max(last + 1))
        })
        .unwrap();
    wall.max(prev + 1)
}

/// A release of `acme` with two images, each in the release's own repository.
fn release_doc(version: &str, counter: u64) -> ReleaseDocument {
    let version = version.parse().unwrap();
    ReleaseDocument {
        notes: Some(format!("Release {version}: faster start-up.")),
        ..published_release(APP, &version, counter, &["web", "api"], now())
    }
}
