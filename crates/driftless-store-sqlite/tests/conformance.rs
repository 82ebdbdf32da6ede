//! Runs the backend-agnostic conformance suite (`driftless-store-conformance`) against
//! SQLite: once on a WAL file with a full connection pool, as in production, and once
//! on `sqlite::memory:`.

#![allow(clippy::unwrap_used)]

use driftless_store_sqlite::SqliteStore;

/// A store on a fresh database file; the temp dir is the guard that keeps it.
async fn open_file() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("driftless.db").display());
    (SqliteStore::open(&url).await.unwrap(), dir)
}

/// A store on a private in-memory database.
async fn open_memory() -> (SqliteStore, ()) {
    (SqliteStore::open("sqlite::memory:").await.unwrap(), ())
}

mod file {
    use super::open_file;
    use driftless_store_conformance::conformance_tests;
    conformance_tests!(open_file);
}

/// Makes the database file of `dir` refuse audit inserts, through a connection of its
/// own (the store's pool cannot be reached from here).
struct FileFault(String);

async fn file_fault(dir: &tempfile::TempDir) -> FileFault {
    FileFault(format!(
        "sqlite://{}",
        dir.path().join("driftless.db").display()
    ))
}

impl FileFault {
    async fn run(&self, sql: &str) {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&self.0).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
}

impl driftless_store_conformance::AuditFault for FileFault {
    async fn break_audit_log(&self) {
        self.run(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log
             BEGIN SELECT RAISE(ABORT, 'audit log refuses inserts'); END",
        )
        .await;
    }
    async fn mend_audit_log(&self) {
        self.run("DROP TRIGGER refuse_audit").await;
    }
}

mod file_fault {
    use super::{file_fault, open_file};
    use driftless_store_conformance::audit_fault_conformance_tests;
    audit_fault_conformance_tests!(open_file, file_fault);
}

mod memory {
    use super::open_memory;
    use driftless_store_conformance::conformance_tests;
    conformance_tests!(open_memory);
}
