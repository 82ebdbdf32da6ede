//! Test support: what SQLite's planner does with a statement, so tests can hold the
//! store to "every lookup is indexed".

use sqlx::SqlitePool;

/// Every step of the statement's plan, as SQLite describes it, with `?1` bound to "x"
/// (further parameters are NULL, which does not change the plan).
#[allow(clippy::unwrap_used)]
pub(crate) async fn plan(pool: &SqlitePool, sql: &str) -> Vec<String> {
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
        .bind("x")
        .fetch_all(pool)
        .await
        .unwrap();
    rows.into_iter().map(|(_, _, _, detail)| detail).collect()
}

/// Fails unless every step is a search through an index (or the primary key).
pub(crate) fn assert_indexed(steps: &[String]) {
    assert!(!steps.is_empty());
    for step in steps {
        assert!(
            step.starts_with("SEARCH") && step.contains("USING"),
            "not an indexed lookup: {step} (plan: {steps:?})"
        );
    }
}
