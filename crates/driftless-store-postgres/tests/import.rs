//! The bulk import past one statement's worth of rows: installs and audit entries are
//! written several thousand per statement, and the chain must run on unbroken across
//! statements and across calls, in import order.

#![allow(clippy::unwrap_used)]

use driftless_store::{AuditEvent, ImportedInstall, Install, License, Store};
use driftless_store_postgres::PgStore;
use driftless_test_support::postgres::fresh_database;
use sha2::{Digest, Sha256};

const NOW: i64 = 1_700_000_000;
/// More than two statements' worth of installs and of audit entries.
const FIRST: usize = 12_001;

fn imported(license: &License, n: usize) -> ImportedInstall {
    let id = format!("ins-{n:06}");
    ImportedInstall {
        install: Install {
            id: id.clone(),
            license_id: license.id.clone(),
            customer: license.customer.clone(),
            app: license.app.clone(),
            channel: license.channel.clone(),
            public_key: "cd".repeat(32),
            hostname: format!("host-{n}"),
            platform: "linux/amd64".into(),
            revoked: false,
            created_at: NOW,
            uninstalled_at: None,
        },
        registered: AuditEvent {
            at: NOW,
            actor: format!("install:{id}"),
            action: "install.register".into(),
            subject: id,
            detail: format!("{{\"n\":{n}}}"),
            request_id: String::new(),
        },
        report: None,
        assignment: None,
        newest_request_ms: None,
    }
}

/// The documented chain: hex(sha256(prev_hash "\n" canonical JSON of the event)).
fn chained(prev: &str, e: &AuditEvent) -> String {
    let canonical = serde_json::json!({
        "action": e.action, "actor": e.actor, "at": e.at, "detail": e.detail,
        "subject": e.subject,
    });
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

#[tokio::test]
async fn a_large_import_chains_every_entry_in_order_across_statements_and_calls() {
    let db =
        fresh_database().unwrap_or_else(|| panic!("the PostgreSQL import test needs PostgreSQL"));
    let store = PgStore::open(db.url()).await.unwrap();
    store.create_app("acme", NOW).await.unwrap();
    store.create_channel("acme", "stable", NOW).await.unwrap();
    store.create_customer("cust", NOW).await.unwrap();
    let license = License {
        id: "lic-acme".into(),
        customer: "cust".into(),
        app: "acme".into(),
        channel: "stable".into(),
        key_hash: "ab".repeat(32),
        revoked: false,
        created_at: NOW,
    };
    store.create_license(&license).await.unwrap();

    let batch: Vec<_> = (0..FIRST).map(|n| imported(&license, n)).collect();
    store.import_installs(&batch).await.unwrap();
    let more: Vec<_> = (FIRST..FIRST + 3).map(|n| imported(&license, n)).collect();
    store.import_installs(&more).await.unwrap();
    store.append_audit(&more[0].registered).await.unwrap();

    let fleet = store.list_installs(Some("acme")).await.unwrap();
    assert_eq!(fleet.len(), FIRST + 3);
    let log = store.list_audit(u32::MAX).await.unwrap();
    assert_eq!(log.len(), FIRST + 4);
    let expected: Vec<&AuditEvent> = batch
        .iter()
        .chain(&more)
        .map(|i| &i.registered)
        .chain([&more[0].registered])
        .collect();
    let mut prev = "0".repeat(64);
    for (i, (entry, event)) in log.iter().rev().zip(expected).enumerate() {
        assert_eq!(entry.seq, i as u64 + 1, "sequence has no gaps");
        assert_eq!(&entry.event, event, "entry {} in import order", entry.seq);
        assert_eq!(
            entry.hash,
            chained(&prev, event),
            "entry {} chains",
            entry.seq
        );
        prev = entry.hash.clone();
    }
}
