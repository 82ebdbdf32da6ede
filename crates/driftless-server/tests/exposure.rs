#![allow(clippy::unwrap_used)]
//! `GET /v1/exposure/{advisory}`: the releases whose SBOMs contain a component the
//! advisory affects, and the installs whose last report says they run one; an install
//! on a fixed release and an unknown advisory are not reported.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use driftless_server::{router, AppState, ServerConfig};
use driftless_store::{CheckinReport, Install, License, Release, ReleaseState};
use driftless_store_sqlite::SqliteStore;
use driftless_wire::keys::generate_signing_key;
use driftless_wire::release::{ReleaseDocument, SbomRef};
use driftless_wire::{Digest, Envelope, RELEASE_PAYLOAD_TYPE};
use serde_json::Value;
use tower::ServiceExt as _;

const APP: &str = "acme";

/// A CycloneDX SBOM with `openssl` at `version` as a Debian package.
fn sbom(version: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5",
        "components": [{"name": "openssl", "version": version,
            "purl": format!("pkg:deb/debian/openssl@{version}?arch=amd64")}]
    }))
    .unwrap()
}

/// Stores release `version` (counter `counter`) whose `web` SBOM lists openssl `openssl`.
async fn release(state: &AppState, version: &str, counter: u64, openssl: &str) {
    let bytes = sbom(openssl);
    let digest = Digest::of(&bytes);
    state
        .store
        .put_artifact(digest.as_str(), &bytes, support::now())
        .await
        .unwrap();
    let doc = ReleaseDocument {
        version: version.parse().unwrap(),
        sboms: vec![SbomRef {
            service: "web".into(),
            repository: format!("{APP}/r{counter}/web"),
            manifest_digest: Digest::of(b"manifest"),
            digest,
            size: bytes.len() as u64,
            media_type: "application/vnd.cyclonedx+json".into(),
        }],
        ..driftless_trust_fixtures::release_doc_of(APP, counter, 0)
    };
    let payload = serde_json::to_vec(&doc).unwrap();
    let envelope = Envelope::sign(RELEASE_PAYLOAD_TYPE, &payload, &[&generate_signing_key()]);
    let stored = Release {
        app: APP.into(),
        version: version.into(),
        release_counter: counter,
        digest: Digest::of(&payload).to_string(),
        envelope: serde_json::to_string(&envelope).unwrap(),
        created_at: support::now(),
        state: ReleaseState::Active,
    };
    state.store.insert_release(&stored).await.unwrap();
}

/// Install `id` of customer `cust` reporting that it runs `version`.
async fn install_running(state: &AppState, id: &str, version: &str) {
    let install = Install {
        id: id.into(),
        license_id: "lic".into(),
        customer: "cust".into(),
        app: APP.into(),
        channel: "stable".into(),
        public_key: "ab".repeat(32),
        hostname: format!("host-{id}"),
        platform: "linux/amd64".into(),
        revoked: false,
        created_at: support::now(),
        uninstalled_at: None,
    };
    state.store.create_install(&install).await.unwrap();
    let report = CheckinReport {
        at: support::now(),
        status: "converged".into(),
        version: Some(version.into()),
        release_counter: None,
        cli_version: "0.1.0".into(),
        free_disk_bytes: None,
        target_version: None,
        reason: None,
        policy: None,
        waiting: None,
    };
    state.store.record_checkin(id, &report, None).await.unwrap();
}

async fn seeded(osv: &std::path::Path) -> AppState {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    let mut state = support::state(Arc::new(store), 1024);
    state.config = Arc::new(ServerConfig {
        artifacts_in_database: true,
        osv_dir: Some(osv.to_path_buf()),
        ..(*state.config).clone()
    });
    let t = support::now();
    state.store.create_app(APP, t).await.unwrap();
    state.store.create_channel(APP, "stable", t).await.unwrap();
    state.store.create_customer("cust", t).await.unwrap();
    let license = License {
        id: "lic".into(),
        customer: "cust".into(),
        app: APP.into(),
        channel: "stable".into(),
        key_hash: "0".repeat(64),
        revoked: false,
        created_at: t,
    };
    state.store.create_license(&license).await.unwrap();
    release(&state, "1.0.0", 1, "3.0.11-1~deb12u1").await;
    release(&state, "1.0.1", 2, "3.0.11-1~deb12u2").await;
    install_running(&state, "i-old", "1.0.0").await;
    install_running(&state, "i-new", "1.0.1").await;
    state
}

async fn get(state: &AppState, path: &str) -> (StatusCode, Value) {
    let req = Request::get(path)
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", support::OPERATOR_TOKEN),
        )
        .body(Body::empty())
        .unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn exposure_lists_the_affected_release_and_the_install_running_it() {
    let osv = tempfile::tempdir().unwrap();
    std::fs::write(
        osv.path().join("DSA-0001-1.json"),
        r#"{"id":"DSA-0001-1","aliases":["CVE-2026-0001"],"modified":"2026-12-01T00:00:00Z",
            "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}]}]}"#,
    )
    .unwrap();
    let state = seeded(osv.path()).await;

    let (status, report) = get(&state, "/v1/exposure/CVE-2026-0001").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["advisory"], "DSA-0001-1");
    let releases = report["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 1, "{report}");
    assert_eq!(releases[0]["version"], "1.0.0");
    assert_eq!(
        releases[0]["components"][0],
        "web: openssl@3.0.11-1~deb12u1"
    );
    let installs = report["installs"].as_array().unwrap();
    assert_eq!(installs.len(), 1, "{report}");
    assert_eq!(installs[0]["install"], "i-old");
    assert_eq!(installs[0]["customer"], "cust");

    let (status, unknown) = get(&state, "/v1/exposure/GHSA-none").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    assert_eq!(unknown["code"], "unknown_advisory");
}
