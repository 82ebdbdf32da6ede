//! The paged fleet and audit routes and the fleet summary, over HTTP: pages follow
//! `Driftless-Next-Cursor` to the end, each install once; a cursor the server did not
//! hand out is a 400; the summary counts what the store holds.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use driftless_server::router;
use driftless_store::{AuditEvent, Install, License, Store};
use driftless_store_sqlite::SqliteStore;
use serde_json::Value;
use tower::ServiceExt as _;

use support::{now, OPERATOR_TOKEN};

const INSTALLS: usize = 230;

/// A store with app `acme` on channel `stable` and `INSTALLS` installs.
async fn seeded() -> Arc<SqliteStore> {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    let t = now();
    store.create_app("acme", t).await.unwrap();
    store.create_channel("acme", "stable", t).await.unwrap();
    store.create_customer("cust", t).await.unwrap();
    let license = License {
        id: "lic".into(),
        customer: "cust".into(),
        app: "acme".into(),
        channel: "stable".into(),
        key_hash: "00".repeat(32),
        revoked: false,
        created_at: t,
    };
    store.create_license(&license).await.unwrap();
    for n in 0..INSTALLS {
        let install = Install {
            id: format!("i-{n:04}"),
            license_id: "lic".into(),
            customer: "cust".into(),
            app: "acme".into(),
            channel: "stable".into(),
            public_key: "ab".repeat(32),
            hostname: format!("host-{n}"),
            platform: "linux/amd64".into(),
            revoked: false,
            created_at: t + (n / 10) as i64,
            uninstalled_at: None,
        };
        store.create_install(&install).await.unwrap();
    }
    Arc::new(store)
}

/// GET `path` as the operator: status, next cursor, JSON body.
async fn get(store: &Arc<SqliteStore>, path: &str) -> (StatusCode, Option<String>, Value) {
    let state = support::state(store.clone(), 64);
    let req = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {OPERATOR_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let resp = router(state).oneshot(req).await.unwrap();
    let status = resp.status();
    let next = resp
        .headers()
        .get("driftless-next-cursor")
        .map(|v| v.to_str().unwrap().to_string());
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, next, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn fleet_pages_follow_the_cursor_to_the_end_each_install_once() {
    let store = seeded().await;
    let mut seen = Vec::new();
    let mut path = "/v1/installs?app=acme&limit=50".to_string();
    let mut pages = 0;
    loop {
        let (status, next, body) = get(&store, &path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let items = body.as_array().unwrap();
        assert!(items.len() <= 50);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        pages += 1;
        match next {
            Some(cursor) => path = format!("/v1/installs?app=acme&limit=50&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..INSTALLS).map(|n| format!("i-{n:04}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, INSTALLS.div_ceil(50));

    // Without a limit, a fleet this size is one page with no cursor.
    let (_, next, body) = get(&store, "/v1/installs").await;
    assert_eq!((body.as_array().unwrap().len(), next), (INSTALLS, None));
}

#[tokio::test]
async fn a_cursor_the_server_did_not_hand_out_is_a_bad_request() {
    let store = seeded().await;
    for path in [
        "/v1/installs?cursor=not-a-cursor",
        "/v1/installs?cursor=eA",
        "/v1/audit?cursor=not-a-cursor",
    ] {
        let (status, next, body) = get(&store, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(next, None);
        assert!(
            body["message"].as_str().unwrap().contains("cursor"),
            "{body}"
        );
        assert!(body["hint"]
            .as_str()
            .unwrap()
            .contains("Driftless-Next-Cursor"));
    }
}

#[tokio::test]
async fn fleet_summary_counts_installs_per_status() {
    let store = seeded().await;
    store.uninstall_install("i-0003", now()).await.unwrap();
    let (status, _, body) = get(&store, "/v1/fleet/summary?app=acme").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], INSTALLS as u64);
    let counts: Vec<(String, u64)> = body["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["status"].as_str().unwrap().into(),
                c["installs"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("new".into(), INSTALLS as u64 - 1),
            ("uninstalled".into(), 1)
        ]
    );
    let (status, _, body) = get(&store, "/v1/fleet/summary?app=ghost").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn audit_pages_go_from_newest_to_oldest() {
    let store = seeded().await;
    for n in 0..12 {
        let event = AuditEvent {
            at: now(),
            actor: "operator".into(),
            action: "test.event".into(),
            subject: format!("s{n}"),
            detail: "{}".into(),
            request_id: String::new(),
        };
        store.append_audit(&event).await.unwrap();
    }
    let (_, next, first) = get(&store, "/v1/audit?limit=5").await;
    let seqs = |v: &Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(seqs(&first), [12, 11, 10, 9, 8]);
    let (_, next, second) = get(
        &store,
        &format!("/v1/audit?limit=5&cursor={}", next.unwrap()),
    )
    .await;
    assert_eq!(seqs(&second), [7, 6, 5, 4, 3]);
    let (_, next, last) = get(
        &store,
        &format!("/v1/audit?limit=5&cursor={}", next.unwrap()),
    )
    .await;
    assert_eq!((seqs(&last), next), (vec![2, 1], None));
}
