//! `cargo bench -p driftless-store-sqlite --bench fleet_lists`: how long the fleet
//! summary and fleet and audit pages take on a large fleet (1,000,000 installs unless
//! `DRIFTLESS_BENCH_INSTALLS` says otherwise).
//!
//! The installs are seeded in one bulk statement (a realistic row: a last report, a
//! stored assignment of about 1 KB, one in ten failing with a reason, one in fifty
//! uninstalled), not through the API, so seeding takes seconds. The figures are printed,
//! never asserted.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use driftless_store::{InstallCursor, InstallFilter, InstallShow, License, Store};
use driftless_store_sqlite::SqliteStore;
use sqlx::Connection;

const NOW: i64 = 1_700_000_000;

/// One statement inserting `?1` installs across two channels and three versions.
const SEED: &str = "
INSERT INTO installs (id, license_id, customer, app, channel, public_key, hostname, platform,
                      revoked, created_at, uninstalled_at,
                      report_at, report_status, report_version, report_release_counter,
                      report_cli_version, report_free_disk_bytes, report_reason,
                      assignment_sequence, assignment_release_digest, assignment_expires,
                      assignment_etag, assignment_envelope)
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?1)
SELECT printf('%08x-0000-4000-8000-%012x', x * 2654435761 % 4294967296, x),
       'lic', 'cust', 'acme', CASE WHEN x % 4 = 0 THEN 'beta' ELSE 'stable' END,
       hex(randomblob(32)), 'host-' || x, 'linux/amd64', x % 50 = 0,
       ?2 + x / 20, CASE WHEN x % 50 = 0 THEN ?2 + x END,
       ?2 + x, CASE WHEN x % 10 = 0 THEN 'failed:health' ELSE 'converged' END,
       '1.' || (x % 3) || '.0', x % 3 + 1, '0.1.0', 50000000000,
       CASE WHEN x % 10 = 0
            THEN '{\"code\":\"health_failed\",\"detail\":\"web exited ' || (x % 7) || '\"}' END,
       x % 9 + 1, 'sha256:' || hex(randomblob(32)), ?2 + 3600, hex(randomblob(16)),
       hex(randomblob(512))
FROM n";

fn timed<T>(what: &str, start: Instant, value: T) -> T {
    println!("{what:<48} {:>9.1} ms", start.elapsed().as_secs_f64() * 1e3);
    value
}

#[tokio::main]
async fn main() {
    let installs: i64 = std::env::var("DRIFTLESS_BENCH_INSTALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("driftless.db");
    let url = format!("sqlite://{}", path.display());
    let store = SqliteStore::open(&url).await.unwrap();
    store.create_app("acme", NOW).await.unwrap();
    for channel in ["stable", "beta"] {
        store.create_channel("acme", channel, NOW).await.unwrap();
    }
    store.create_customer("cust", NOW).await.unwrap();
    let license = License {
        id: "lic".into(),
        customer: "cust".into(),
        app: "acme".into(),
        channel: "stable".into(),
        key_hash: "00".repeat(32),
        revoked: false,
        created_at: NOW,
    };
    store.create_license(&license).await.unwrap();

    let start = Instant::now();
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(SEED)
        .bind(installs)
        .bind(NOW)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    timed(
        &format!("seed {installs} installs (one statement)"),
        start,
        (),
    );
    for n in 0..1_000 {
        let event = driftless_store::AuditEvent {
            at: NOW + n,
            actor: "operator".into(),
            action: "bench.event".into(),
            subject: format!("s{n}"),
            detail: "{}".into(),
            request_id: String::new(),
        };
        store.append_audit(&event).await.unwrap();
    }
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "database file (WAL not counted)                  {:>9.1} MB ({} bytes per install)",
        bytes as f64 / 1e6,
        bytes / installs.max(1) as u64
    );

    // Twice each: the first from a cold page cache of this connection pool.
    for round in ["cold", "warm"] {
        println!("-- {round}");
        let start = Instant::now();
        let summary = store.fleet_summary(None).await.unwrap();
        timed("fleet_summary(all apps)", start, ());
        assert_eq!(
            summary.total, installs as u64,
            "the summary counts every install"
        );
        let start = Instant::now();
        store.fleet_summary(Some("acme")).await.unwrap();
        timed("fleet_summary(acme)", start, ());

        let filter = InstallFilter {
            app: Some("acme".into()),
            show: InstallShow::Active,
        };
        let start = Instant::now();
        let first = store
            .list_installs_page(&filter, None, 1_000)
            .await
            .unwrap();
        timed("first fleet page (1000 installs)", start, ());
        let middle = InstallCursor {
            created_at: NOW + installs / 40,
            id: String::new(),
        };
        let start = Instant::now();
        store
            .list_installs_page(&filter, Some(&middle), 1_000)
            .await
            .unwrap();
        timed("fleet page half way (1000 installs)", start, ());
        assert_eq!(first.items.len(), 1_000);

        let start = Instant::now();
        store.list_audit_page(None, 100).await.unwrap();
        timed("newest audit page (100 entries)", start, ());
    }

    let start = Instant::now();
    let mut cursor = None;
    let mut seen = 0usize;
    let filter = InstallFilter {
        app: None,
        show: InstallShow::All,
    };
    loop {
        let page = store
            .list_installs_page(&filter, cursor.as_ref(), 10_000)
            .await
            .unwrap();
        seen += page.items.len();
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let took: Duration = start.elapsed();
    assert_eq!(seen as i64, installs);
    println!(
        "walk the whole fleet, 10000 a page               {:>9.1} ms",
        took.as_secs_f64() * 1e3
    );
}
