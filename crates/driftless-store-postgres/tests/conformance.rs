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

/// Makes the test database refuse audit inserts, through a connection of its own.
struct PgFault(String);

async fn pg_fault(db: &TestDatabase) -> PgFault {
    PgFault(db.url().to_owned())
}

impl PgFault {
    /// Runs each statement in turn (a prepared statement holds one).
    async fn run(&self, statements: &[&str]) {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&self.0).await.unwrap();
        for sql in statements {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
    }
}

impl driftless_store_conformance::AuditFault for PgFault {
    async fn break_audit_log(&self) {
        self.run(&[
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RAISE EXCEPTION 'audit log refuses inserts'; END $$",
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log
               FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
        ])
        .await;
    }
    async fn mend_audit_log(&self) {
        self.run(&[
            "DROP TRIGGER refuse_audit ON audit_log",
            "DROP FUNCTION refuse_audit()",
        ])
        .await;
    }
}

driftless_store_conformance::audit_fault_conformance_tests!(open, pg_fault);
