//! A database whose schema this build cannot use is refused at open, naming the
//! schema version found and the one expected: one migrated by a newer Driftless, and
//! one whose applied migration differs from this build's.

#![allow(clippy::unwrap_used)]

use driftless_store::StoreError;
use driftless_store_sqlite::SqliteStore;
use sqlx::Connection as _;

/// A database file migrated by this build, then changed by `sql`; returns its URL, the
/// temp dir that holds it, and the newest migration this build applied.
async fn migrated_then(sql: &str) -> (String, tempfile::TempDir, i64) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("driftless.db").display());
    drop(SqliteStore::open(&url).await.unwrap());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (expected,): (i64,) = sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    (url, dir, expected)
}

fn refusal(result: Result<SqliteStore, StoreError>) -> String {
    match result {
        Err(StoreError::Backend(message)) => message,
        Err(other) => panic!("expected a refusal, got {other:?}"),
        Ok(_) => panic!("the database was accepted"),
    }
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_driftless_is_refused() {
    let (url, _dir, expected) = migrated_then(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (100000, 'from the future', 1, x'00', 0)",
    )
    .await;
    let message = refusal(SqliteStore::open(&url).await);
    assert!(
        message.contains("at version 100000")
            && message.contains(&format!("expects version {expected}")),
        "{message}"
    );
}

#[tokio::test]
async fn a_database_whose_applied_migration_differs_is_refused() {
    let (url, _dir, expected) =
        migrated_then("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1").await;
    let message = refusal(SqliteStore::open(&url).await);
    assert!(
        message.contains("migration 1 applied to this database differs")
            && message.contains(&format!("expected {expected}")),
        "{message}"
    );
}
