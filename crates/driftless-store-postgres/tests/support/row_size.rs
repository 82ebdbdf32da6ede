//! What one install takes on PostgreSQL: a fleet of installs as registration, a first
//! check-in and a session leave them, and the bytes each relation grew by. Shared by
//! the `row_size` test (which holds it under 1 KB) and bench (which prints it).

#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeMap;

use driftless_store::{
    AuditEvent, CheckinReport, ImportedInstall, Install, License, Store, StoredAssignment,
    StoredSession,
};
use driftless_store_postgres::PgStore;
use driftless_test_support::postgres::fresh_database;
use driftless_wire::release::Assignment;
use driftless_wire::{Digest, Envelope, ASSIGNMENT_PAYLOAD_TYPE};
use sha2::Digest as _;
use sqlx::PgPool;

const NOW: i64 = 1_700_000_000;

/// Waits until no other session of the cluster holds a snapshot or a transaction id
/// (an autovacuum worker analysing the tables just filled does, for a while; so does a
/// test of another database holding a row lock), so that `VACUUM` may reclaim every row
/// deleted or updated before it. Sessions of other databases count: a transaction
/// open in one kept this one's deleted rows (`VACUUM FULL` copied them along, 1,740
/// bytes per install measured instead of 1,052). One that starts after the check is
/// newer than every row to reclaim.
async fn wait_for_no_other_snapshot(pool: &PgPool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (others,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity
             WHERE pid <> pg_backend_pid()
               AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if others == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "another session kept a snapshot or transaction open for 2 minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Bytes per table and index of the public schema.
pub async fn relation_bytes(pool: &PgPool, vacuum: &str) -> BTreeMap<String, i64> {
    wait_for_no_other_snapshot(pool).await;
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
        entitlements: Default::default(),
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
pub fn imported(license: &License, n: i64) -> ImportedInstall {
    // Ids spread over the key space as the server's random ones do (so the indexes on
    // them fill as they do in service, not as an append-only load would).
    let id = format!(
        "ins_{}",
        &hex::encode(sha2::Sha256::digest(n.to_be_bytes()))[..32]
    );
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
            request_id: String::new(),
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

/// Relation bytes before and after `installs` installs were imported into a fresh
/// store, each then given a check-in session if `sessions`. Measured after
/// `VACUUM FULL`: the live rows, without the free space a row's update leaves behind.
pub async fn grown_by(
    installs: i64,
    sessions: bool,
) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let db = fresh_database().unwrap_or_else(|| panic!("this measure needs PostgreSQL"));
    let store = PgStore::open(db.url()).await.unwrap();
    store.create_app("acme", NOW).await.unwrap();
    store.create_channel("acme", "stable", NOW).await.unwrap();
    store.create_customer("customer", NOW).await.unwrap();
    let license = License {
        id: format!("lic_{}", "0".repeat(16)),
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

    let batch: Vec<_> = (0..installs).map(|n| imported(&license, n)).collect();
    store.import_installs(&batch).await.unwrap();
    let sessions = if sessions { batch.len() } else { 0 };
    for (n, imported) in batch.iter().enumerate().take(sessions) {
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
    let after = relation_bytes(&pool, "VACUUM FULL").await;
    pool.close().await;
    drop(db);
    (before, after)
}

/// What each relation grew by per install, one line each, and the total.
pub fn per_install(
    before: &BTreeMap<String, i64>,
    after: &BTreeMap<String, i64>,
    installs: i64,
) -> (i64, String) {
    let mut total = 0;
    let mut report = String::new();
    for (name, bytes) in after {
        let grown = bytes - before.get(name).copied().unwrap_or(0);
        total += grown;
        if grown > 0 {
            report.push_str(&format!("  {name}: {} B/install\n", grown / installs));
        }
    }
    (total / installs, report)
}
