//! Migration 0011 rebuilds the install table: an install stored before it keeps every
//! value (its key and assignment digest packed, and read back as they were), and the
//! indexes and column it drops are gone.

#![allow(clippy::unwrap_used)]

use driftless_test_support::postgres::fresh_database;
use sqlx::PgPool;

/// The migrations before 0011, applied as the store applied them.
const BEFORE: [&str; 5] = [
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0007_sessions_and_changes.sql"),
    include_str!("../migrations/0008_list_pages.sql"),
    include_str!("../migrations/0009_replicas.sql"),
    include_str!("../migrations/0010_compact_rows.sql"),
];

#[tokio::test]
async fn installs_stored_before_0011_read_back_the_same_after_it() {
    let db = fresh_database().unwrap_or_else(|| panic!("this test needs PostgreSQL"));
    let pool = PgPool::connect(db.url()).await.unwrap();
    for sql in BEFORE {
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    }
    let key = "ab".repeat(32);
    let digest = format!("sha256:{}", "cd".repeat(32));
    sqlx::raw_sql(&format!(
        "INSERT INTO apps (name, created_at) VALUES ('acme', 0);
         INSERT INTO customers (name, created_at) VALUES ('c', 0);
         INSERT INTO channels (app, name, updated_at) VALUES ('acme', 'stable', 0);
         INSERT INTO licenses (id, customer, app, channel, key_hash, created_at)
             VALUES ('l', 'c', 'acme', 'stable', 'h', 0);
         INSERT INTO installs (id, license_id, customer, app, channel, public_key, hostname,
                               platform, created_at, report_status, report_reason,
                               assignment_sequence, assignment_release_digest,
                               assignment_expires, session_id, session_key)
             VALUES ('i-1', 'l', 'c', 'acme', 'stable', '{key}', 'h', 'linux/amd64', 7,
                     'failed', '{{\"code\":\"disk_full\",\"detail\":\"x\"}}',
                     3, '{digest}', 9, 's-1', decode(repeat('07', 32), 'hex')),
                    ('i-2', 'l', 'c', 'acme', 'stable', 'not hex', 'h', 'linux/amd64', 8,
                     NULL, NULL, NULL, NULL, NULL, NULL, NULL);"
    ))
    .execute(&pool)
    .await
    .unwrap();

    sqlx::raw_sql(include_str!("../migrations/0011_compact_installs.sql"))
        .execute(&pool)
        .await
        .unwrap();

    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<i64>,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, driftless_unpack(public_key), driftless_unpack(assignment_release_digest),
                report_reason_code, assignment_sequence, created_at
         FROM installs ORDER BY created_at, id COLLATE \"C\"",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            (
                "i-1".into(),
                key,
                Some(digest),
                Some("disk_full".into()),
                Some(3),
                7
            ),
            ("i-2".into(), "not hex".into(), None, None, None, 8),
        ]
    );
    let (gone,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_class
         WHERE relname IN ('installs_by_app', 'installs_by_created_at')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(gone, 0);
    let (ord,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM information_schema.columns
         WHERE table_name = 'installs' AND column_name = 'ord'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(ord, 0);
    // The change feed still hears of a revocation.
    sqlx::query("UPDATE installs SET revoked = TRUE WHERE id = 'i-2'")
        .execute(&pool)
        .await
        .unwrap();
    let (fed,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM changes WHERE kind = 'install' AND key = 'i-2'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(fed, 1);
    pool.close().await;
}
