//! What the store does when PostgreSQL is not there: at open it says which URL failed
//! (password redacted); under a running store every call is `Unavailable`, nothing is
//! half-written, and the store serves again by itself once the database is back.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use driftless_store::{AuditEvent, Store, StoreError};
use driftless_store_postgres::PgStore;
use driftless_test_support::postgres::private_cluster;

/// How long the store may take to serve again once the database is back.
const RESUME_TIMEOUT: Duration = Duration::from_secs(30);

fn event(action: &str) -> AuditEvent {
    AuditEvent {
        at: 1_700_000_000,
        actor: "operator".into(),
        action: action.into(),
        subject: "acme".into(),
        detail: "{}".into(),
        request_id: String::new(),
    }
}

#[tokio::test]
async fn nothing_listening_at_open_is_unavailable_naming_the_url_without_its_password() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://driftless:hunter2@127.0.0.1:{port}/driftless");
    let err = PgStore::open(&url).await.unwrap_err();
    let StoreError::Unavailable(message) = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(
        message.contains(&format!(
            "postgres://driftless:***@127.0.0.1:{port}/driftless"
        )),
        "{message}"
    );
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_stopped_under_a_running_store_is_unavailable_then_serves_again() {
    let Some(cluster) = private_cluster() else {
        return; // the notice says why
    };
    let store = PgStore::open(&cluster.admin_url()).await.unwrap();
    store.create_app("before", 1).await.unwrap();
    store.append_audit(&event("app.create")).await.unwrap();

    cluster.stop().unwrap();
    match store.create_app("during", 2).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("a write with the database down must be Unavailable, got {other:?}"),
    }
    match store.append_audit(&event("during")).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("an audit append with the database down: {other:?}"),
    }
    match store.list_apps().await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("a read with the database down must be Unavailable, got {other:?}"),
    }

    cluster.start_again().unwrap();
    // The pool drops its dead connections and opens new ones by itself.
    let deadline = Instant::now() + RESUME_TIMEOUT;
    let apps = loop {
        match store.list_apps().await {
            Ok(apps) => break apps,
            Err(StoreError::Unavailable(e)) if Instant::now() < deadline => {
                eprintln!("still unavailable: {e}");
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("the store did not serve again: {e}"),
        }
    };
    let names: Vec<_> = apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["before"], "nothing of the failed calls was saved");
    store.create_app("after", 3).await.unwrap();
    store.append_audit(&event("app.create")).await.unwrap();
    let audit = store.list_audit(10).await.unwrap();
    assert_eq!(
        audit.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [2, 1],
        "the chain continues where it stopped"
    );
}
