//! Runs the backend-agnostic conformance suite (`driftless-store-conformance`) against
//! PostgreSQL, each check on a fresh, empty database (see
//! `driftless_test_support::postgres`).

#![allow(clippy::unwrap_used)]

use driftless_store_postgres::PgStore;
use driftless_test_support::postgres::{fresh_database, TestDatabase};

/// A store on a fresh database; the guard drops the database. The suite's macro has
/// no way to skip a check, so without PostgreSQL every check fails, saying why.
async fn open() -> (PgStore, TestDatabase) {
    let db = fresh_database()
        .unwrap_or_else(|| panic!("the PostgreSQL conformance suite needs PostgreSQL"));
    let store = PgStore::open(db.url()).await.unwrap();
    (store, db)
}

driftless_store_conformance::conformance_tests!(open);
