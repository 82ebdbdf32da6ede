//! Test support: what PostgreSQL's planner does with a statement, so tests can hold the
//! store to "every table is read through an index". Sequential scans are disabled for
//! the session, so a plan still showing one has no index to use at all (on the empty
//! tables of a test the planner would otherwise rightly prefer them).

#![allow(clippy::unwrap_used)]

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgPool, Postgres};

/// How a test binds a statement's parameters.
pub(crate) trait Bind: for<'q> FnOnce(PgQuery<'q>) -> PgQuery<'q> {}
impl<F: for<'q> FnOnce(PgQuery<'q>) -> PgQuery<'q>> Bind for F {}

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// The plan of `sql` with its parameters bound by `bind`, one line per step.
pub(crate) async fn plan(pool: &PgPool, sql: &str, bind: impl Bind) -> Vec<String> {
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    let explain = format!("EXPLAIN {sql}");
    let lines = bind(sqlx::query(&explain))
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    lines
        .iter()
        .map(|row| sqlx::Row::get::<String, _>(row, 0))
        .collect()
}

/// Binds `n` text parameters, all "x".
pub(crate) fn texts(n: usize) -> impl Bind {
    move |mut query: PgQuery<'_>| {
        for _ in 0..n {
            query = query.bind("x");
        }
        query
    }
}

/// Fails if any table is read by a sequential scan.
pub(crate) fn assert_indexed(steps: &[String]) {
    assert!(!steps.is_empty());
    assert!(
        steps.iter().all(|step| !step.contains("Seq Scan")),
        "not every read is indexed: {steps:#?}"
    );
}
