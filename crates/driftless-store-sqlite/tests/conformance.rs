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

mod memory {
    use super::open_memory;
    use driftless_store_conformance::conformance_tests;
    conformance_tests!(open_memory);
}
