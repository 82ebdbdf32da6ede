//! Webhooks end to end: a control plane served on loopback POSTs signed events to a
//! receiver this test starts, retries with a growing backoff while the receiver fails,
//! audits every attempt, keeps a queued delivery across a restart, and sends a
//! failure spike once per episode.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use driftless_server::{AppState, WebhookSettings};
use driftless_store::{CheckinReport, Install, License, Release, ReleaseState, Store};
use driftless_store_sqlite::SqliteStore;
use driftless_wire::webhook::{verify, SignatureError, WebhookEventBody, SIGNATURE_HEADER};
use support::{now, OPERATOR_TOKEN};

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Hit {
    at: Instant,
    signature: String,
    body: Vec<u8>,
}

/// A receiver that answers 500 to its first `fail_first` requests, then 204.
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    fail_first: usize,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut hits = r.hits.lock().unwrap();
    hits.push(Hit {
        at: Instant::now(),
        signature,
        body: body.to_vec(),
    });
    if hits.len() <= r.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// Starts `r` on loopback; returns its URL.
async fn start_receiver(r: Receiver) -> String {
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(r);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/hook")
}

/// Fast retries, so the test sees three attempts in about a second.
fn fast() -> WebhookSettings {
    WebhookSettings {
        poll_ms: 20,
        backoff_base_ms: 200,
        backoff_max_ms: 5_000,
        max_attempts: 5,
        ..WebhookSettings::default()
    }
}

/// Serves `state` on loopback; returns its base URL and the task.
async fn serve(state: AppState) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        driftless_server::serve(listener, state, std::future::pending())
            .await
            .unwrap()
    });
    (base, task)
}

async fn seed_release(store: &dyn Store) {
    store.create_app("acme", now()).await.unwrap();
    let release = Release {
        app: "acme".into(),
        version: "1.0.0".into(),
        release_counter: 1,
        digest: format!("sha256:{}", "0".repeat(64)),
        envelope: "{}".into(),
        created_at: now(),
        state: ReleaseState::Active,
    };
    store.insert_release(&release).await.unwrap();
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Registers a webhook for `events`; returns the secret the answer shows.
async fn register(base: &str, url: &str, events: &[&str]) -> String {
    let answer = client()
        .post(format!("{base}/v1/apps/acme/webhooks"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&serde_json::json!({ "url": url, "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let created: serde_json::Value = answer.json().await.unwrap();
    created["secret"].as_str().unwrap().to_string()
}

async fn yank(base: &str) {
    let answer = client()
        .post(format!("{base}/v1/apps/acme/releases/1.0.0/state"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&serde_json::json!({ "state": "yanked" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
}

async fn get_text(base: &str, path: &str) -> String {
    let answer = client()
        .get(format!("{base}{path}"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{path}");
    answer.text().await.unwrap()
}

/// Waits (at most 20 s) until the receiver got `n` requests.
async fn wait_for_hits(r: &Receiver, n: usize) -> Vec<Hit> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hits = r.hits.lock().unwrap().clone();
        if hits.len() >= n {
            return hits;
        }
        assert!(
            Instant::now() < deadline,
            "the receiver got {} of {n} requests",
            hits.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let url = format!("sqlite://{}", dir.path().join("driftless.db").display());
    Arc::new(SqliteStore::open(&url).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yank_reaches_the_receiver_signed_after_retries_with_backoff_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    seed_release(&*store).await;
    let receiver = Receiver {
        fail_first: 2,
        ..Receiver::default()
    };
    let url = start_receiver(receiver.clone()).await;
    let state = support::state(store, 0).with_webhook_settings(fast());
    let (base, server) = serve(state).await;
    let secret = register(&base, &url, &["release.yanked"]).await;
    assert!(secret.starts_with("whsec_"));
    let listed = get_text(&base, "/v1/apps/acme/webhooks").await;
    assert!(
        listed.contains(&url) && !listed.contains(&secret),
        "listed without its secret: {listed}"
    );

    yank(&base).await;
    let hits = wait_for_hits(&receiver, 3).await;
    let t = now();
    for hit in &hits {
        verify(&secret, &hit.signature, &hit.body, t, 300).expect("every attempt is signed");
    }
    assert!(
        hits.iter().all(|h| h.body == hits[0].body),
        "every attempt sends the same event"
    );
    let event: WebhookEventBody = serde_json::from_slice(&hits[0].body).unwrap();
    assert_eq!(
        (event.kind.as_str(), event.app.as_str()),
        ("release.yanked", "acme")
    );
    assert_eq!(event.data["version"], "1.0.0");
    assert!(event.id.starts_with("whe_"));
    // Backoff: ≥ half of 200 ms after the first failure, ≥ half of 400 ms after the second.
    let first_wait = hits[1].at - hits[0].at;
    let second_wait = hits[2].at - hits[1].at;
    assert!(first_wait >= Duration::from_millis(100), "{first_wait:?}");
    assert!(second_wait >= Duration::from_millis(200), "{second_wait:?}");

    // The receiver's check refuses a tampered body, another secret and an old timestamp.
    let mut tampered = hits[2].body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(
        verify(&secret, &hits[2].signature, &tampered, t, 300),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify("whsec_wrong", &hits[2].signature, &hits[2].body, t, 300),
        Err(SignatureError::Mismatch)
    );
    assert!(matches!(
        verify(&secret, &hits[2].signature, &hits[2].body, t + 3600, 300),
        Err(SignatureError::Stale { .. })
    ));

    let deliveries = wait_for_delivered(&base).await;
    assert_eq!(deliveries[0]["attempts"], 3);
    assert_eq!(deliveries[0]["event_id"], event.id.as_str());
    let audit = get_text(&base, "/v1/audit?limit=100").await;
    assert_eq!(audit.matches("\"webhook.retry\"").count(), 2, "{audit}");
    assert_eq!(audit.matches("\"webhook.delivered\"").count(), 1, "{audit}");
    assert!(audit.contains("\"webhook.add\""));
    assert!(!audit.contains(&secret), "the secret is never audited");
    let metrics = get_text(&base, "/metrics").await;
    assert!(
        metrics.contains(r#"driftless_webhook_deliveries_total{outcome="retry"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"driftless_webhook_deliveries_total{outcome="delivered"} 1"#));
    server.abort();
}

/// The deliveries list once its newest delivery is `delivered` (at most 10 s).
async fn wait_for_delivered(base: &str) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = get_text(base, "/v1/apps/acme/webhook-deliveries").await;
        let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        if list.first().is_some_and(|d| d["state"] == "delivered") {
            return list;
        }
        assert!(Instant::now() < deadline, "never delivered: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_delivery_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::default();
    let url = start_receiver(receiver.clone()).await;
    {
        // No sender runs: the settings never poll within the test.
        let store = sqlite(&dir).await;
        seed_release(&*store).await;
        let idle = WebhookSettings {
            poll_ms: 3_600_000,
            ..fast()
        };
        let state = support::state(store, 0).with_webhook_settings(idle);
        let (base, server) = serve(state).await;
        register(&base, &url, &[]).await;
        yank(&base).await;
        let text = get_text(&base, "/v1/apps/acme/webhook-deliveries").await;
        assert!(text.contains("\"pending\""), "{text}");
        server.abort();
        let _ = server.await;
    }
    assert!(
        receiver.hits.lock().unwrap().is_empty(),
        "nothing was sent before the restart"
    );
    let state = support::state(sqlite(&dir).await, 0).with_webhook_settings(fast());
    let (base, server) = serve(state).await;
    wait_for_delivered(&base).await;
    let hits = receiver.hits.lock().unwrap().clone();
    let event: WebhookEventBody = serde_json::from_slice(&hits[hits.len() - 1].body).unwrap();
    assert_eq!(event.kind, "release.yanked");
    server.abort();
}

async fn seed_installs(store: &dyn Store, n: usize) {
    store.create_customer("cust", now()).await.unwrap();
    store.create_channel("acme", "stable", now()).await.unwrap();
    let license = License {
        id: "lic".into(),
        customer: "cust".into(),
        app: "acme".into(),
        channel: "stable".into(),
        key_hash: "0".repeat(64),
        revoked: false,
        created_at: now(),
    };
    store.create_license(&license).await.unwrap();
    for i in 0..n {
        let install = Install {
            id: format!("ins-{i}"),
            license_id: "lic".into(),
            customer: "cust".into(),
            app: "acme".into(),
            channel: "stable".into(),
            public_key: "ab".repeat(32),
            hostname: format!("host-{i}"),
            platform: "linux/amd64".into(),
            revoked: false,
            created_at: now(),
            uninstalled_at: None,
        };
        store.create_install(&install).await.unwrap();
    }
}

async fn report(store: &dyn Store, install: usize, status: &str) {
    let report = CheckinReport {
        at: now(),
        status: status.into(),
        version: Some("1.0.0".into()),
        release_counter: Some(1),
        cli_version: "0.1.0".into(),
        free_disk_bytes: None,
        target_version: None,
        reason: None,
        policy: None,
        waiting: None,
    };
    store
        .record_checkin(&format!("ins-{install}"), &report, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failure_spike_is_queued_once_per_episode() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    seed_release(&*store).await;
    seed_installs(&*store, 10).await;
    let state = support::state(store.clone(), 0);
    let hook = driftless_store::NewWebhook {
        app: "acme".into(),
        url: "https://hooks.example.com/in".into(),
        events: vec!["fleet.failure_spike".into()],
        secret: "whsec_x".into(),
        created_at: now(),
    };
    store.create_webhook(&hook).await.unwrap();
    for i in 0..10 {
        report(&*store, i, "converged").await;
    }
    assert_eq!(
        state.check_failure_spikes().await.unwrap(),
        0,
        "no failures"
    );
    for i in 0..3 {
        report(&*store, i, "failed:health_failed").await;
    }
    assert_eq!(
        state.check_failure_spikes().await.unwrap(),
        1,
        "3 of 10 failed: a spike"
    );
    report(&*store, 3, "failed:health_failed").await;
    assert_eq!(
        state.check_failure_spikes().await.unwrap(),
        0,
        "the same episode"
    );
    for i in 0..3 {
        report(&*store, i, "converged").await;
    }
    assert_eq!(
        state.check_failure_spikes().await.unwrap(),
        0,
        "1 of 10: over"
    );
    for i in 4..6 {
        report(&*store, i, "failed:pull_failed").await;
    }
    assert_eq!(
        state.check_failure_spikes().await.unwrap(),
        1,
        "a new episode"
    );
    let queued = store.list_webhook_deliveries("acme", 100).await.unwrap();
    assert_eq!(queued.len(), 2);
    let body: WebhookEventBody = serde_json::from_str(&queued[0].body).unwrap();
    assert_eq!(body.kind, "fleet.failure_spike");
    assert_eq!(body.data["failed_installs"], 3);
    assert_eq!(body.data["reporting_installs"], 10);
}

/// A database migrated before webhooks existed but past their migration's number
/// (0013 landed first) gets migration 0012 when opened, and keeps its data.
#[tokio::test]
async fn a_database_migrated_past_0012_gets_it_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("driftless.db");
    let url = format!("sqlite://{}", path.display());
    seed_release(&SqliteStore::open(&url).await.unwrap()).await;
    {
        // Make it look like a database from before 0012.
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        for sql in [
            "DROP TABLE webhook_episodes",
            "DROP TABLE webhook_deliveries",
            "DROP TABLE webhooks",
            "DELETE FROM _sqlx_migrations WHERE version = 12",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    let store = SqliteStore::open(&url).await.unwrap();
    assert!(store.get_app("acme").await.unwrap().is_some());
    assert!(store.list_webhooks(None).await.unwrap().is_empty());
}

/// Two replicas on one database, both sending: each queued event reaches the receiver
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_send_each_delivery_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    seed_release(&*store).await;
    let receiver = Receiver::default();
    let url = start_receiver(receiver.clone()).await;
    let hook = driftless_store::NewWebhook {
        app: "acme".into(),
        url,
        events: vec![],
        secret: "whsec_x".into(),
        created_at: now(),
    };
    store.create_webhook(&hook).await.unwrap();
    let events = 20;
    for i in 0..events {
        let event = driftless_store::WebhookEvent {
            app: "acme".into(),
            kind: "release.yanked".into(),
            event_id: format!("whe_{i}"),
            body: format!(r#"{{"id":"whe_{i}"}}"#),
            at: now(),
            opens_episode: false,
        };
        store.enqueue_webhook_event(&event).await.unwrap();
    }
    let settings = WebhookSettings { batch: 3, ..fast() };
    let a = support::state(sqlite(&dir).await, 0).with_webhook_settings(settings.clone());
    let b = support::state(sqlite(&dir).await, 0).with_webhook_settings(settings);
    let (_, server_a) = serve(a).await;
    let (_, server_b) = serve(b).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let queued = store.list_webhook_deliveries("acme", 100).await.unwrap();
        let done = queued
            .iter()
            .filter(|d| d.state == driftless_store::DeliveryState::Delivered)
            .count();
        if done == events {
            break;
        }
        assert!(Instant::now() < deadline, "{done} of {events} delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hits = receiver.hits.lock().unwrap().clone();
    let ids: std::collections::BTreeSet<Vec<u8>> = hits.iter().map(|h| h.body.clone()).collect();
    assert_eq!((hits.len(), ids.len()), (events, events), "each sent once");
    server_a.abort();
    server_b.abort();
}

/// The kinds of the app's queued deliveries, oldest first.
async fn queued_kinds(store: &dyn Store) -> Vec<String> {
    let mut queued = store.list_webhook_deliveries("acme", 100).await.unwrap();
    queued.reverse();
    queued.into_iter().map(|d| d.kind).collect()
}

/// An operator's resume queues `rollout.resumed`; the ticker completing the rollout
/// queues `rollout.completed`; a pause queues nothing.
#[tokio::test]
async fn rollout_changes_queue_their_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    seed_release(&*store).await;
    store.create_channel("acme", "stable", now()).await.unwrap();
    let hook = driftless_store::NewWebhook {
        app: "acme".into(),
        url: "https://hooks.example.com/in".into(),
        events: vec![],
        secret: "whsec_x".into(),
        created_at: now(),
    };
    store.create_webhook(&hook).await.unwrap();
    let t = now();
    let rollout = driftless_store::Rollout {
        id: 0,
        app: "acme".into(),
        channel: "stable".into(),
        version: "1.0.0".into(),
        previous_version: None,
        waves: vec![50, 100],
        wave_index: 1,
        wave_started_at: t - 3600,
        interval_s: Some(60),
        state: driftless_store::RolloutState::Halted,
        min_failures: 3,
        max_failure_pct: 20,
        reason: Some("3 of 4 failed".into()),
        created_at: t - 3600,
        updated_at: t - 3600,
        revision: 0,
    };
    store.create_rollout(&rollout).await.unwrap();
    // Nothing is sent (the sender's first poll is at start, before any event).
    let idle = WebhookSettings {
        poll_ms: 3_600_000,
        ..fast()
    };
    let state = support::state(store.clone(), 0).with_webhook_settings(idle);
    let (base, server) = serve(state.clone()).await;
    let act = |action: &'static str| {
        let base = base.clone();
        async move {
            let answer = client()
                .post(format!(
                    "{base}/v1/apps/acme/channels/stable/rollout/{action}"
                ))
                .bearer_auth(OPERATOR_TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(
                answer.status(),
                200,
                "{action}: {}",
                answer.text().await.unwrap()
            );
        }
    };
    act("resume").await;
    act("pause").await;
    act("resume").await;
    assert_eq!(
        queued_kinds(&*store).await,
        ["rollout.resumed", "rollout.resumed"]
    );
    // The last wave has been open for longer than its interval: the tick completes it.
    let mut r = store
        .active_rollout("acme", "stable")
        .await
        .unwrap()
        .unwrap();
    r.wave_started_at = t - 3600;
    let update = driftless_store::RolloutUpdate {
        rollout: r,
        channel_release: None,
        audit: None,
    };
    store.update_rollout(&update).await.unwrap();
    driftless_server::rollout_tick(&state, now()).await.unwrap();
    let kinds = queued_kinds(&*store).await;
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("rollout.completed"),
        "{kinds:?}"
    );
    let completed = store.list_webhook_deliveries("acme", 1).await.unwrap();
    let body: WebhookEventBody = serde_json::from_str(&completed[0].body).unwrap();
    assert_eq!(
        (body.data["channel"].as_str(), body.data["state"].as_str()),
        (Some("stable"), Some("completed"))
    );
    server.abort();
}

/// A receiver that redirects does not get the event sent on to where it points: the
/// redirect is a failed attempt, retried at the registered URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    seed_release(&*store).await;
    let elsewhere = Receiver::default();
    let elsewhere_url = start_receiver(elsewhere.clone()).await;
    let redirect = axum::Router::new().route(
        "/hook",
        post(move || {
            let to = elsewhere_url.clone();
            async move {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(axum::http::header::LOCATION, to)],
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirect).await.unwrap() });
    let state = support::state(store.clone(), 0).with_webhook_settings(fast());
    let (base, server) = serve(state).await;
    register(&base, &url, &[]).await;
    yank(&base).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let queued = store.list_webhook_deliveries("acme", 1).await.unwrap();
        if let Some(d) = queued.into_iter().find(|d| d.attempts >= 1) {
            break d;
        }
        assert!(Instant::now() < deadline, "no attempt made");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(first.last_status, Some(307));
    assert_eq!(
        first.state,
        driftless_store::DeliveryState::Pending,
        "retried later"
    );
    assert!(
        elsewhere.hits.lock().unwrap().is_empty(),
        "the redirect was not followed"
    );
    server.abort();
}
