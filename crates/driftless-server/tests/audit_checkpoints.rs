//! The audit log's checkpoints and oldest-first pages through the real router over an
//! in-memory store: nothing to sign on an empty log, a checkpoint of the head signed
//! on request with the checkpoint key the root lists, and pages that tile the log.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use driftless_server::{router, AppState};
use driftless_store::AuditEntry;
use driftless_store_sqlite::SqliteStore;
use driftless_wire::audit_checkpoint::AuditCheckpoint;
use driftless_wire::root::Role;
use driftless_wire::{Envelope, AUDIT_CHECKPOINT_PAYLOAD_TYPE};
use tower::ServiceExt as _;

async fn state() -> AppState {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    support::state(Arc::new(store), 0)
}

async fn call(state: &AppState, method: &str, uri: &str, body: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(
            "authorization",
            format!("Bearer {}", support::OPERATOR_TOKEN),
        )
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router(state.clone()).oneshot(req).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, body.to_vec())
}

async fn create_apps(state: &AppState, n: usize) {
    for i in 1..=n {
        let body = format!("{{\"name\":\"app-{i}\"}}");
        assert_eq!(
            call(state, "POST", "/v1/apps", &body).await.0,
            StatusCode::CREATED
        );
    }
}

#[tokio::test]
async fn an_empty_log_has_no_checkpoint_to_sign() {
    let state = state().await;
    let (status, body) = call(&state, "POST", "/v1/audit/checkpoint", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&body).contains("no_audit_checkpoint"));
}

#[tokio::test]
async fn a_checkpoint_of_the_head_is_signed_with_the_key_the_root_lists() {
    let state = state().await;
    create_apps(&state, 4).await;
    let (status, body) = call(&state, "POST", "/v1/audit/checkpoint", "").await;
    assert_eq!(status, StatusCode::OK);
    let env: Envelope = serde_json::from_slice(&body).unwrap();
    let (keys, _) = state.keys().root.role_keys(Role::Checkpoint);
    assert_eq!(
        env.verified_keyids(&keys).len(),
        1,
        "signed by the listed key"
    );
    let cp: AuditCheckpoint = env
        .decode(AUDIT_CHECKPOINT_PAYLOAD_TYPE, "audit checkpoint")
        .unwrap();
    let head = state.store.list_audit(1).await.unwrap().remove(0);
    assert_eq!((cp.tree_size, cp.head), (4, head.hash));
    // Nothing new: the same checkpoint, not another one.
    let (_, again) = call(&state, "GET", "/v1/audit/checkpoint", "").await;
    assert_eq!(again, body);
}

#[tokio::test]
async fn oldest_first_pages_tile_the_log() {
    let state = state().await;
    create_apps(&state, 5).await;
    let (status, body) = call(&state, "GET", "/v1/audit?after=1&limit=3", "").await;
    assert_eq!(status, StatusCode::OK);
    let page: Vec<AuditEntry> = serde_json::from_slice(&body).unwrap();
    let seqs: Vec<u64> = page.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [2, 3, 4]);
    let (_, body) = call(&state, "GET", "/v1/audit?after=4&limit=3", "").await;
    let page: Vec<AuditEntry> = serde_json::from_slice(&body).unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [5]);
}
