//! Keyset pages of the fleet and the audit log, and the fleet summary, each one indexed
//! statement (migration 0008): a page costs the same at the millionth install as at the
//! first, and the summary is counted from one index without reading a row.

use std::collections::BTreeMap;

use driftless_store::{
    AuditPage, FleetCount, FleetSummary, InstallCursor, InstallFilter, InstallPage, InstallShow,
    StaleCount, StoreResult,
};
use sqlx::PgPool;

use crate::audit::AuditRow;
use crate::error::{backend, from_db, to_db};
use crate::fleet::{SummaryRow, INSTALL_COLUMNS, REPORT_COLUMNS};

/// The largest page a store hands out, whatever the caller asks for.
pub(crate) const MAX_PAGE: u32 = 10_000;

fn page_size(limit: u32) -> u32 {
    limit.clamp(1, MAX_PAGE)
}

/// The fleet page's statement for `filter`, with or without a cursor; the parameters
/// are numbered in order: app (if filtered), cursor time and id (if any), limit.
///
/// The id is compared and ordered under collation "C", as the page indexes hold it: byte
/// order, the order SQLite gives and Rust's `String` comparison, whatever the locale.
fn install_page_sql(filter: &InstallFilter, after: bool) -> String {
    let mut conditions = Vec::new();
    let mut next = 1;
    let mut param = || {
        let n = next;
        next += 1;
        format!("${n}")
    };
    if filter.app.is_some() {
        conditions.push(format!("i.app = {}", param()));
    }
    if after {
        let (at, id) = (param(), param());
        conditions.push(format!("(i.created_at, i.id COLLATE \"C\") > ({at}, {id})"));
    }
    match filter.show {
        InstallShow::Active => conditions.push("i.uninstalled_at IS NULL".into()),
        InstallShow::Uninstalled => conditions.push("i.uninstalled_at IS NOT NULL".into()),
        InstallShow::All => {}
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let limit = param();
    format!(
        "SELECT {INSTALL_COLUMNS}, c.version AS desired_version, {REPORT_COLUMNS}
         FROM installs i
         LEFT JOIN channels c ON c.app = i.app AND c.name = i.channel
         {filter}
         ORDER BY i.created_at, i.id COLLATE \"C\"
         LIMIT {limit}"
    )
}

pub(crate) async fn list_installs_page(
    pool: &PgPool,
    filter: &InstallFilter,
    after: Option<&InstallCursor>,
    limit: u32,
) -> StoreResult<InstallPage> {
    let size = page_size(limit);
    let sql = install_page_sql(filter, after.is_some());
    let mut query = sqlx::query_as::<_, SummaryRow>(&sql);
    if let Some(app) = &filter.app {
        query = query.bind(app);
    }
    if let Some(cursor) = after {
        query = query.bind(cursor.created_at).bind(&cursor.id);
    }
    // One row more than the page tells whether another page follows.
    let rows = query
        .bind(i64::from(size) + 1)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
    let more = rows.len() > size as usize;
    let items = rows
        .into_iter()
        .take(size as usize)
        .map(SummaryRow::into_summary)
        .collect::<StoreResult<Vec<_>>>()?;
    let next = if more {
        items.last().map(InstallCursor::after)
    } else {
        None
    };
    Ok(InstallPage { items, next })
}

/// The summary's statement: grouped in the order of the `installs_summary` index, so
/// PostgreSQL counts with an index-only scan and never sorts. The reason is grouped by
/// its code, which the database derives from the reported text when the row is written.
fn fleet_summary_sql(by_app: bool) -> String {
    let filter = if by_app { "WHERE app = $1" } else { "" };
    format!(
        "SELECT app, channel, report_version, report_status,
                report_reason_code AS reason_code,
                COUNT(uninstalled_at) AS uninstalled,
                COUNT(*) AS installs
         FROM installs
         {filter}
         GROUP BY app, report_version, report_status, report_reason_code, channel"
    )
}

#[derive(sqlx::FromRow)]
struct CountRow {
    app: String,
    channel: String,
    report_version: Option<String>,
    report_status: Option<String>,
    reason_code: Option<String>,
    uninstalled: i64,
    installs: i64,
}

/// App, channel, version, status, reason: what a summary line counts.
type CountKey = (String, String, Option<String>, String, Option<String>);

pub(crate) async fn fleet_summary(pool: &PgPool, app: Option<&str>) -> StoreResult<FleetSummary> {
    let sql = fleet_summary_sql(app.is_some());
    let mut query = sqlx::query_as::<_, CountRow>(&sql);
    if let Some(app) = app {
        query = query.bind(app);
    }
    let rows = query.fetch_all(pool).await.map_err(backend)?;
    let mut counts: BTreeMap<CountKey, u64> = BTreeMap::new();
    for row in rows {
        let installs = from_db(row.installs, "install count")?;
        let uninstalled = from_db(row.uninstalled, "uninstalled count")?;
        let in_use = installs.saturating_sub(uninstalled);
        let status = row.report_status.unwrap_or_else(|| "new".into());
        let key = |status: String| {
            (
                row.app.clone(),
                row.channel.clone(),
                row.report_version.clone(),
                status,
                row.reason_code.clone(),
            )
        };
        if in_use > 0 {
            *counts.entry(key(status)).or_default() += in_use;
        }
        if uninstalled > 0 {
            *counts.entry(key("uninstalled".into())).or_default() += uninstalled;
        }
    }
    let counts: Vec<FleetCount> = counts
        .into_iter()
        .map(
            |((app, channel, version, status, reason), installs)| FleetCount {
                app,
                channel,
                version,
                status,
                reason,
                installs,
            },
        )
        .collect();
    Ok(FleetSummary {
        total: counts.iter().map(|c| c.installs).sum(),
        counts,
    })
}

/// The audit page's statement: a backward walk of the primary key from the cursor.
const AUDIT_PAGE: &str = "SELECT seq, at, actor, action, subject, detail, request_id, hash
     FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2";

pub(crate) async fn list_audit_page(
    pool: &PgPool,
    before: Option<u64>,
    limit: u32,
) -> StoreResult<AuditPage> {
    let size = page_size(limit);
    // seq starts at 1, so "below i64::MAX" is the whole log.
    let before = match before {
        Some(seq) => to_db(seq, "audit cursor")?,
        None => i64::MAX,
    };
    let rows: Vec<AuditRow> = sqlx::query_as(AUDIT_PAGE)
        .bind(before)
        .bind(i64::from(size) + 1)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
    let more = rows.len() > size as usize;
    let items = rows
        .into_iter()
        .take(size as usize)
        .map(AuditRow::into_entry)
        .collect::<StoreResult<Vec<_>>>()?;
    let next = if more {
        items.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(AuditPage { items, next })
}

/// Installs seen once and not since `seen_before`, counted per app and channel. It
/// reads every install: the metrics aggregate runs it now and then, off the request
/// path.
const STALE_INSTALLS: &str = "SELECT app, channel, COUNT(*) AS installs
     FROM installs
     WHERE report_at < $1 AND NOT revoked AND uninstalled_at IS NULL
     GROUP BY app, channel
     ORDER BY app, channel";

pub(crate) async fn stale_installs(
    pool: &PgPool,
    seen_before: i64,
) -> StoreResult<Vec<StaleCount>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(STALE_INSTALLS)
        .bind(seen_before)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
    rows.into_iter()
        .map(|(app, channel, installs)| {
            Ok(StaleCount {
                app,
                channel,
                installs: from_db(installs, "stale install count")?,
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::query_plan::{assert_indexed, plan};

    /// Steps that sort: a page or the summary must come out of an index in order.
    fn sorts(steps: &[String]) -> bool {
        steps.iter().any(|s| s.contains("Sort"))
    }

    /// Registers a fleet of `count` installs over two apps (`other` has one in fifty), one
    /// in ten uninstalled and
    /// half of them reporting, and analyzes it: on empty tables the
    /// planner rightly sorts a handful of rows, where at scale it must walk an index.
    async fn seed_fleet(pool: &PgPool, count: i64) {
        for sql in [
            "INSERT INTO apps (name, created_at) VALUES ('acme', 0), ('other', 0)",
            "INSERT INTO customers (name, created_at) VALUES ('c', 0)",
            "INSERT INTO channels (app, name, updated_at) VALUES ('acme', 'stable', 0),
                ('other', 'stable', 0)",
            "INSERT INTO licenses (id, customer, app, channel, key_hash, created_at)
             VALUES ('l-acme', 'c', 'acme', 'stable', 'h-acme', 0),
                    ('l-other', 'c', 'other', 'stable', 'h-other', 0)",
        ] {
            sqlx::query(sql).execute(pool).await.unwrap();
        }
        sqlx::query(
            "INSERT INTO installs (id, license_id, customer, app, channel, public_key, hostname,
                                   platform, created_at, uninstalled_at, report_at,
                                   report_status, report_version, report_cli_version,
                                   report_reason)
             SELECT 'i-' || n, 'l-' || a, 'c', a, 'stable', driftless_pack('k'), 'h', 'linux/amd64', n / 7,
                    CASE WHEN n % 10 = 0 THEN n END,
                    CASE WHEN n % 2 = 0 THEN n END,
                    CASE WHEN n % 2 = 0 THEN 'running' END,
                    CASE WHEN n % 2 = 0 THEN '1.0.' || (n % 3) END,
                    CASE WHEN n % 2 = 0 THEN '0.1.0' END,
                    CASE WHEN n % 4 = 0 THEN '{\"code\":\"health_failed\",\"detail\":\"x\"}' END
             FROM generate_series(1, $1) AS n,
                  LATERAL (SELECT CASE WHEN n % 50 = 0 THEN 'other' ELSE 'acme' END AS a) AS app",
        )
        .bind(count)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE installs").execute(pool).await.unwrap();
    }

    /// Vacuums the installs until the visibility map, which index-only scans need, covers
    /// nine pages in ten, as autovacuum keeps it. A transaction open elsewhere in the
    /// cluster (another test's) can hold a vacuum back, so it is retried until then.
    async fn vacuum_installs(pool: &PgPool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            sqlx::query("VACUUM installs").execute(pool).await.unwrap();
            let (pages, visible): (i32, i32) = sqlx::query_as(
                "SELECT relpages, relallvisible FROM pg_class WHERE relname = 'installs'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            if visible * 10 >= pages * 9 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "vacuum left {visible} of {pages} pages all-visible"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    #[tokio::test]
    async fn every_fleet_page_is_an_indexed_walk_without_sorting() {
        let (store, _db) = crate::tests::store().await;
        seed_fleet(&store.pool, 50_000).await;
        // The whole fleet walks its page index; a small app walks its own. For an app
        // holding most of the fleet either walk reads about one page's worth.
        for (app, indexes) in [
            (None, &["installs_page"][..]),
            (Some("other"), &["installs_page_by_app"][..]),
            (Some("acme"), &["installs_page_by_app", "installs_page"][..]),
        ] {
            for show in [
                InstallShow::Active,
                InstallShow::All,
                InstallShow::Uninstalled,
            ] {
                for after in [false, true] {
                    let filter = InstallFilter {
                        app: app.map(Into::into),
                        show,
                    };
                    let sql = install_page_sql(&filter, after);
                    let steps = plan(&store.pool, &sql, move |mut q| {
                        if let Some(app) = app {
                            q = q.bind(app);
                        }
                        if after {
                            q = q.bind(1_i64).bind("i-00001");
                        }
                        q.bind(11_i64)
                    })
                    .await;
                    assert_indexed(&steps);
                    assert!(
                        !sorts(&steps),
                        "no sort for {filter:?} after={after}: {steps:#?}"
                    );
                    let walk = steps
                        .iter()
                        .position(|s| {
                            indexes
                                .iter()
                                .any(|i| s.contains(&format!("Index Scan using {i} on installs")))
                        })
                        .unwrap_or_else(|| panic!("{filter:?} walks {indexes:?}: {steps:#?}"));
                    let cond = steps.get(walk + 1).map_or("", String::as_str);
                    assert_eq!(
                        cond.contains("Index Cond:")
                            && cond.contains("ROW(created_at, (id)::text) >"),
                        after,
                        "the cursor, and only it, seeks in the index: {steps:#?}"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn summary_is_counted_from_its_covering_index() {
        let (store, _db) = crate::tests::store().await;
        seed_fleet(&store.pool, 50_000).await;
        vacuum_installs(&store.pool).await;
        for by_app in [false, true] {
            let steps = plan(&store.pool, &fleet_summary_sql(by_app), move |q| {
                if by_app {
                    q.bind("acme")
                } else {
                    q
                }
            })
            .await;
            assert!(
                steps
                    .iter()
                    .any(|s| s.contains("Index Only Scan using installs_summary")),
                "{steps:#?}"
            );
            assert!(!sorts(&steps), "{steps:#?}");
        }
    }

    #[tokio::test]
    async fn audit_page_seeks_by_sequence() {
        let (store, _db) = crate::tests::store().await;
        let steps = plan(&store.pool, AUDIT_PAGE, |q| q.bind(5_i64).bind(11_i64)).await;
        assert_indexed(&steps);
        assert!(!sorts(&steps), "{steps:#?}");
        assert!(
            steps
                .iter()
                .any(|s| s.contains("Index Scan Backward using audit_log_pkey")),
            "{steps:#?}"
        );
    }

    #[tokio::test]
    async fn the_reason_code_is_derived_and_never_refuses_a_row() {
        let (store, _db) = crate::tests::store().await;
        for (reason, code) in [
            (
                Some(r#"{"code":"health_failed","detail":"web exited"}"#),
                Some("health_failed"),
            ),
            (Some(r#"{"detail":"no code"}"#), None),
            (Some("not json {"), None),
            (Some(r#"["an","array"]"#), None),
            (Some(r#""a string""#), None),
            (None, None),
        ] {
            let (derived,): (Option<String>,) = sqlx::query_as("SELECT driftless_reason_code($1)")
                .bind(reason)
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(derived.as_deref(), code, "{reason:?}");
        }
    }

    /// Text that does not compress: a B-tree entry holding it would not fit in a page.
    fn incompressible(len: usize) -> String {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'a' + (state % 26) as u8)
            })
            .collect()
    }

    #[tokio::test]
    async fn a_long_or_malformed_reason_is_stored_and_counted_by_its_code() {
        use driftless_store::{CheckinReport, Store};
        let (store, _db) = crate::tests::store().await;
        seed_fleet(&store.pool, 3).await;
        let detail = incompressible(20_000);
        let long = format!(r#"{{"code":"health_failed","detail":"{detail}"}}"#);
        for (id, reason) in [("i-1", long.as_str()), ("i-3", "not json {")] {
            let report = CheckinReport {
                at: 5,
                status: "failed:health".into(),
                version: Some("1.0.0".into()),
                release_counter: None,
                cli_version: "0.1.0".into(),
                free_disk_bytes: None,
                target_version: None,
                reason: Some(reason.into()),
                policy: None,
                waiting: None,
            };
            store.record_checkin(id, &report, None).await.unwrap();
        }
        let summary = store.fleet_summary(Some("acme")).await.unwrap();
        let failing: Vec<_> = summary
            .counts
            .iter()
            .filter(|c| c.status == "failed:health")
            .map(|c| (c.reason.as_deref(), c.installs))
            .collect();
        assert_eq!(failing, [(None, 1), (Some("health_failed"), 1)]);
        let page = store
            .list_installs_page(&InstallFilter::default(), None, 10)
            .await
            .unwrap();
        let stored = page.items[0].last_report.as_ref().unwrap();
        assert_eq!(stored.reason.as_deref(), Some(long.as_str()));
    }
}
