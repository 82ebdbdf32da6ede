//! What each dashboard page costs the control plane with 100 000 installs: the real
//! router over an SQLite file, a logged-in session, requests sent in process (no HTTP
//! parsing, no network). Run with `cargo bench -p driftless-server --bench dashboard`.
//!
//! The fleet page reads the fleet aggregate, which the server computes in the
//! background; its cost is printed on its own line. The rollouts page walks the
//! channel's installs to count each wave, at most once every few seconds: its first
//! (cold) render is printed apart from the warm ones.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use driftless_trust_fixtures::published_release;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use driftless_server::{router, AppState};
use driftless_store::{AuditEvent, CheckinReport, ImportedInstall, Install};
use driftless_store_sqlite::SqliteStore;
use driftless_wire::release::ReleaseDocument;
use driftless_wire::{Envelope, RELEASE_PAYLOAD_TYPE};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use tower::ServiceExt as _;

const INSTALLS: u64 = 100_000;
const RUNS: usize = 20;
const APP: &str = "acme";

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, Vec<String>, Vec<u8>) {
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let cookies = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 26)
        .await
        .unwrap()
        .to_vec();
    (status, cookies, body)
}

async fn operator(state: &AppState, path: &str, body: Value) -> Value {
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", support::OPERATOR_TOKEN),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    let (status, _, body) = send(state, req).await;
    assert!(status.is_success(), "{path}: {status}");
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

fn release(version: &str, counter: u64, key: &SigningKey) -> Envelope {
    let t = support::now();
    let doc = ReleaseDocument {
        notes: Some(format!("Release {version}.")),
        ..published_release(APP, &version.parse().unwrap(), counter, &["web", "api"], t)
    };
    Envelope::sign(
        RELEASE_PAYLOAD_TYPE,
        &serde_json::to_vec(&doc).unwrap(),
        &[key],
    )
}

/// Install `i`: most on 1.0.0, a fifth on 2.0.0, a few failed trying it, some new.
fn imported(i: u64, license: &Value, now: i64) -> ImportedInstall {
    let id = format!("ins_bench{i:08}");
    let (version, status, target) = match i % 20 {
        0..=13 => ("1.0.0", "converged", None),
        14..=17 => ("2.0.0", "converged", None),
        18 => ("1.0.0", "failed:health_failed", Some("2.0.0")),
        _ => ("", "", None),
    };
    let report = (!status.is_empty()).then(|| CheckinReport {
        at: now - (i % 3600) as i64,
        status: status.into(),
        version: Some(version.into()),
        release_counter: Some(if version == "1.0.0" { 1 } else { 2 }),
        cli_version: "0.1.0".into(),
        free_disk_bytes: Some(50_000_000_000),
        target_version: target.map(Into::into),
        reason: target.map(|_| r#"{"code":"health_failed"}"#.into()),
        policy: None,
        waiting: None,
    });
    ImportedInstall {
        install: Install {
            id: id.clone(),
            license_id: license["id"].as_str().unwrap().into(),
            customer: "Acme Corp".into(),
            app: APP.into(),
            channel: "stable".into(),
            public_key: hex::encode([7u8; 32]),
            hostname: format!("bench-host-{i}"),
            platform: "linux/amd64".into(),
            revoked: false,
            created_at: now - 86_400 + (i % 86_400) as i64,
            uninstalled_at: None,
        },
        registered: AuditEvent {
            at: now,
            actor: format!("install:{id}"),
            action: "install.register".into(),
            subject: id,
            detail: "{}".into(),
            request_id: String::new(),
        },
        report,
        assignment: None,
        newest_request_ms: None,
    }
}

/// The fleet, a running rollout of 2.0.0 and 100 000 installs.
async fn seeded(dir: &std::path::Path) -> AppState {
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    let (state, key) = support::state_with_key(Arc::new(store), 0);
    operator(&state, "/v1/apps", json!({"name": APP})).await;
    operator(&state, "/v1/apps/acme/channels", json!({"name": "stable"})).await;
    operator(&state, "/v1/customers", json!({"name": "Acme Corp"})).await;
    for (version, counter) in [("1.0.0", 1), ("2.0.0", 2)] {
        let envelope = release(version, counter, &key);
        operator(
            &state,
            "/v1/apps/acme/releases",
            json!({ "envelope": envelope }),
        )
        .await;
    }
    operator(
        &state,
        "/v1/apps/acme/channels/stable/promote",
        json!({"version": "1.0.0"}),
    )
    .await;
    let license = json!({"customer": "Acme Corp", "app": APP, "channel": "stable"});
    let license = operator(&state, "/v1/licenses", license).await;
    let rollout = json!({"version": "2.0.0", "waves": [10, 50, 100], "interval_s": null,
                         "min_failures": 100000, "max_failure_pct": 100});
    operator(&state, "/v1/apps/acme/channels/stable/rollouts", rollout).await;
    let now = support::now();
    let all: Vec<ImportedInstall> = (0..INSTALLS).map(|i| imported(i, &license, now)).collect();
    for chunk in all.chunks(10_000) {
        state.store.import_installs(chunk).await.unwrap();
    }
    state
}

/// Logs in through the dashboard's form; the session cookie.
async fn log_in(state: &AppState) -> String {
    let get = Request::get("/dashboard/login")
        .body(Body::empty())
        .unwrap();
    let (_, cookies, body) = send(state, get).await;
    let html = String::from_utf8(body).unwrap();
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = html[at..].split('"').next().unwrap();
    let form = format!("csrf={csrf}&token={}", support::OPERATOR_TOKEN);
    let post = Request::post("/dashboard/login")
        .header(header::COOKIE, &cookies[0])
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let (status, cookies, _) = send(state, post).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    cookies
        .into_iter()
        .find(|c| c.starts_with("driftless_dashboard="))
        .unwrap()
}

async fn render(state: &AppState, cookie: &str, path: &str) -> Duration {
    let req = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let start = Instant::now();
    let (status, _, body) = send(state, req).await;
    let took = start.elapsed();
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        String::from_utf8_lossy(&body)
    );
    took
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let seeding = Instant::now();
        let state = seeded(dir.path()).await;
        println!(
            "seeded {INSTALLS} installs in {:.1} s",
            seeding.elapsed().as_secs_f64()
        );
        let start = Instant::now();
        state.aggregate_metrics().await.unwrap();
        println!(
            "fleet aggregate (background, once a minute): {:.1} ms",
            ms(start.elapsed())
        );
        let cookie = log_in(&state).await;
        let cold = render(&state, &cookie, "/dashboard/rollouts").await;
        println!(
            "rollouts page, cold (walks the channel's installs): {:.1} ms",
            ms(cold)
        );
        let install = "/dashboard/installs/ins_bench00000018";
        let pages = [
            "/dashboard",
            "/dashboard/rollouts",
            install,
            "/dashboard/releases",
            "/dashboard/audit",
            "/dashboard/audit?action=rollout.start",
        ];
        println!(
            "{:<40} {:>9} {:>9} {:>9}",
            "page (warm)", "median", "p95", "max"
        );
        for path in pages {
            let mut times = Vec::with_capacity(RUNS);
            for _ in 0..RUNS {
                times.push(render(&state, &cookie, path).await);
            }
            times.sort();
            let p95 = times[(RUNS * 95 / 100).min(RUNS - 1)];
            println!(
                "{path:<40} {:>7.2}ms {:>7.2}ms {:>7.2}ms",
                ms(times[RUNS / 2]),
                ms(p95),
                ms(times[RUNS - 1])
            );
        }
    });
}
