//! `cargo bench -p driftless-store-postgres --bench row_size` (with
//! `DRIFTLESS_TEST_POSTGRES_URL` set): bytes of database per install on PostgreSQL,
//! indexes included, for the per-install size target (1 KB: a million installs in
//! under 1 GB). Each install has a report, a compact assignment, a session and its
//! registration's audit entry; the feed entries its session made are pruned.
//!
//! Printed per table and index, twice: after VACUUM (what the tables hold, with the
//! free space that updates leave in heap pages), and after VACUUM FULL (the live rows
//! alone). The figures are printed, never asserted.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;

use driftless_store::{
    AuditEvent, CheckinReport, ImportedInstall, Install, License, Store, StoredAssignment,
    StoredSession,
};
use driftless_store_postgres::PgStore;
use driftless_test_support::postgres::fresh_database;
use driftless_wire::release::Assignment;
use driftless_wire::{Digest, Envelope, ASSIGNMENT_PAYLOAD_TYPE};
use sqlx::PgPool;

const INSTALLS: i64 = 2000;
const NOW: i64 = 1_700_000_000;

/// Bytes per table and index of the public schema.
async fn relation_bytes(pool: &PgPool, vacuum: &str) -> BTreeMap<String, i64> {
    sqlx::query(vacuum).execute(pool).await.unwrap();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::TEXT, pg_relation_size(c.oid)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 't')
         UNION ALL
         SELECT 'toast of ' || c.relname, COALESCE(pg_total_relation_size(c.reltoastrelid), 0)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.reltoastrelid <> 0",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().collect()
}

/// A signed assignment of release 1.0.0, as a check-in stores it.
fn assignment(install_id: &str) -> StoredAssignment {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let a = Assignment {
        doc_type: "assignment".into(),
        install_id: install_id.into(),
        app: "acme".into(),
        channel: "stable".into(),
        version: "1.0.0".parse().unwrap(),
        release_digest: digest.parse().unwrap(),
        release_counter: 1,
        sequence: 1,
        issued_at: NOW,
        expires: NOW + 6 * 3600,
        allow_downgrade: false,
    };
    let env = Envelope::sign(
        ASSIGNMENT_PAYLOAD_TYPE,
        &serde_json::to_vec(&a).unwrap(),
        &[&driftless_wire::keys::generate_signing_key()],
    );
    let envelope = serde_json::to_string(&env).unwrap();
    StoredAssignment {
        sequence: 1,
        release_digest: digest,
        expires: NOW + 6 * 3600,
        etag: Digest::of(envelope.as_bytes()).hex().to_string(),
        envelope,
    }
}

/// An install as registration and a first check-in leave it, ids as the server makes
/// them.
fn imported(license: &License, n: i64) -> ImportedInstall {
    let id = format!("ins_{n:026}");
    ImportedInstall {
        install: Install {
            id: id.clone(),
            license_id: license.id.clone(),
            customer: license.customer.clone(),
            app: license.app.clone(),
            channel: license.channel.clone(),
            public_key: "cd".repeat(32),
            hostname: format!("host-{n:06}.example.internal"),
            platform: "linux/amd64".into(),
            revoked: false,
            created_at: NOW + n,
            uninstalled_at: None,
        },
        registered: AuditEvent {
            at: NOW + n,
            actor: format!("install:{id}"),
            action: "install.register".into(),
            subject: id.clone(),
            detail: format!(
                "{{\"license\":\"{}\",\"hostname\":\"host-{n:06}.example.internal\"}}",
                license.id
            ),
        },
        report: Some(CheckinReport {
            at: NOW + n,
            status: "converged".into(),
            version: Some("1.0.0".into()),
            release_counter: Some(1),
            cli_version: "0.1.0".into(),
            free_disk_bytes: Some(50_000_000_000),
            target_version: None,
            reason: None,
            policy: None,
            waiting: None,
        }),
        assignment: Some(assignment(&id)),
        newest_request_ms: Some((NOW + n) * 1000),
    }
}

#[tokio::main]
async fn main() {
    let db = fresh_database().unwrap_or_else(|| panic!("this test needs PostgreSQL"));
    let store = PgStore::open(db.url()).await.unwrap();
    store.create_app("acme", NOW).await.unwrap();
    store.create_channel("acme", "stable", NOW).await.unwrap();
    store.create_customer("customer", NOW).await.unwrap();
    let license = License {
        id: format!("lic_{}", "0".repeat(26)),
        customer: "customer".into(),
        app: "acme".into(),
        channel: "stable".into(),
        key_hash: "ef".repeat(32),
        revoked: false,
        created_at: NOW,
    };
    store.create_license(&license).await.unwrap();
    let pool = PgPool::connect(db.url()).await.unwrap();
    let before = relation_bytes(&pool, "VACUUM FULL").await;

    let batch: Vec<_> = (0..INSTALLS).map(|n| imported(&license, n)).collect();
    store.import_installs(&batch).await.unwrap();
    for (n, imported) in batch.iter().enumerate() {
        let session = StoredSession {
            install_id: imported.install.id.clone(),
            session_id: format!("ses_{n:026}"),
            key: [7; 32],
            expires_at: NOW + 86_400,
        };
        store.put_session(&session).await.unwrap();
    }
    // The feed's entries (one per session opened) are pruned after an hour.
    store.prune_changes(i64::MAX).await.unwrap();
    for vacuum in ["VACUUM", "VACUUM FULL"] {
        let after = relation_bytes(&pool, vacuum).await;
        println!("after {vacuum}:");
        print_growth(&before, &after);
    }
}

/// Prints what each relation grew by, per install, and the total.
fn print_growth(before: &BTreeMap<String, i64>, after: &BTreeMap<String, i64>) {
    let mut total = 0;
    for (name, bytes) in after {
        let grown = bytes - before.get(name).copied().unwrap_or(0);
        total += grown;
        if grown > 0 {
            println!("  {name}: {} B/install", grown / INSTALLS);
        }
    }
    println!("  total: {} B/install", total / INSTALLS);
}
