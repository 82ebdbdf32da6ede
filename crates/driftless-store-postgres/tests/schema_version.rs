//! A database whose schema this build cannot use is refused at open, naming the
//! schema version found and the one expected: one migrated by a newer Driftless, and
//! one whose applied migration differs from this build's.

#![allow(clippy::unwrap_used)]

use driftless_store::StoreError;
use driftless_store_postgres::{PgStore, MIGRATOR};
use driftless_test_support::postgres::{fresh_database, TestDatabase};
use sqlx::Connection as _;

/// A database migrated by this build, then changed by `sql`.
async fn migrated_then(sql: &str) -> TestDatabase {
    let db = fresh_database().unwrap_or_else(|| panic!("this test needs PostgreSQL"));
    PgStore::open(db.url()).await.unwrap().close().await;
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    db
}

/// The newest migration this build has.
fn expected() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap()
}

fn refusal(result: Result<PgStore, StoreError>) -> String {
    match result {
        Err(StoreError::Backend(message)) => message,
        Err(other) => panic!("expected a refusal, got {other:?}"),
        Ok(_) => panic!("the database was accepted"),
    }
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_driftless_is_refused() {
    let newer = expected() + 1000;
    let db = migrated_then(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES ({newer}, 'from the future', TRUE, '\\x00', 0)"
    ))
    .await;
    let message = refusal(PgStore::open(db.url()).await);
    assert!(
        message.contains(&format!("at version {newer}"))
            && message.contains(&format!("expects version {}", expected())),
        "{message}"
    );
}

#[tokio::test]
async fn a_database_whose_applied_migration_differs_is_refused() {
    let db =
        migrated_then("UPDATE _sqlx_migrations SET checksum = '\\x00' WHERE version = 1").await;
    let message = refusal(PgStore::open(db.url()).await);
    assert!(
        message.contains("migration 1 applied to this database differs")
            && message.contains(&format!("expected {}", expected())),
        "{message}"
    );
}

#[tokio::test]
async fn reopening_a_current_database_is_accepted() {
    let db = migrated_then("SELECT 1").await;
    PgStore::open(db.url()).await.unwrap();
}
