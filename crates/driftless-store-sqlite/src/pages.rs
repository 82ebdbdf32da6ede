//! Keyset pages of the fleet and the audit log, and the fleet summary, each one indexed
//! statement (migration 0008): a page costs the same at the millionth install as at the
//! first, and the summary is counted from one index without reading a row.

use driftless_store::{
    AuditPage, FleetCount, FleetSummary, InstallCursor, InstallFilter, InstallPage, InstallShow,
    StaleCount, StoreResult,
};
use std::collections::BTreeMap;

use sqlx::{SqliteConnection, SqlitePool};

use crate::audit::AuditRow;
use crate::error::{backend, from_db, to_db};
use crate::fleet::{SummaryRow, INSTALL_COLUMNS, REPORT_COLUMNS};

/// The largest page a store hands out, whatever the caller asks for.
pub(crate) const MAX_PAGE: u32 = 10_000;

fn page_size(limit: u32) -> u32 {
    limit.clamp(1, MAX_PAGE)
}

/// The fleet page's statement for `filter`, with or without a cursor; the parameters
/// are bound in order: app (if filtered), cursor time and id (if any), limit.
fn install_page_sql(filter: &InstallFilter, after: bool) -> String {
    let mut conditions = Vec::new();
    let by_app = filter.app.is_some();
    if by_app {
        conditions.push("i.app = ?");
    }
    if after {
        conditions.push("(i.created_at, i.id) > (?, ?)");
    }
    match filter.show {
        InstallShow::Active => conditions.push("i.uninstalled_at IS NULL"),
        InstallShow::Uninstalled => conditions.push("i.uninstalled_at IS NOT NULL"),
        InstallShow::All => {}
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    // Named, not left to the planner: with statistics of a large fleet (ANALYZE) it
    // prefers the app's summary index and sorts every install of the app, seconds at a
    // million, where walking the page index reads one page's worth.
    let index = if by_app {
        "installs_page_by_app"
    } else {
        "installs_page"
    };
    format!(
        "SELECT {INSTALL_COLUMNS}, c.version AS desired_version, {REPORT_COLUMNS}
         FROM installs i INDEXED BY {index}
         LEFT JOIN channels c ON c.app = i.app AND c.name = i.channel
         {filter}
         ORDER BY i.created_at, i.id
         LIMIT ?"
    )
}

pub(crate) async fn list_installs_page(
    pool: &SqlitePool,
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
/// SQLite walks that index once, never reads a row and never sorts. A reason is grouped
/// by its full text and reduced to its code afterwards, since an index on the code
/// (an expression) would not cover the count.
fn fleet_summary_sql(by_app: bool) -> String {
    let filter = if by_app { "WHERE app = ?1" } else { "" };
    format!(
        "SELECT app, channel, report_version, report_status,
                CASE WHEN json_valid(report_reason)
                     THEN json_extract(report_reason, '$.code') END AS reason_code,
                SUM(uninstalled_at IS NOT NULL) AS uninstalled,
                COUNT(*) AS installs
         FROM installs
         {filter}
         GROUP BY app, report_version, report_status, report_reason, channel"
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

pub(crate) async fn fleet_summary(
    conn: &mut SqliteConnection,
    app: Option<&str>,
) -> StoreResult<FleetSummary> {
    let sql = fleet_summary_sql(app.is_some());
    let mut query = sqlx::query_as::<_, CountRow>(&sql);
    if let Some(app) = app {
        query = query.bind(app);
    }
    let rows = query.fetch_all(conn).await.map_err(backend)?;
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

pub(crate) async fn list_audit_page(
    pool: &SqlitePool,
    before: Option<u64>,
    limit: u32,
) -> StoreResult<AuditPage> {
    let size = page_size(limit);
    // seq starts at 1, so "below i64::MAX" is the whole log.
    let before = match before {
        Some(seq) => to_db(seq, "audit cursor")?,
        None => i64::MAX,
    };
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT seq, at, actor, action, subject, detail, request_id, hash
         FROM audit_log WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
    )
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
/// path, on the low-priority scan connection.
const STALE_INSTALLS: &str = "SELECT app, channel, COUNT(*) AS installs
     FROM installs
     WHERE report_at < ?1 AND revoked = 0 AND uninstalled_at IS NULL
     GROUP BY app, channel
     ORDER BY app, channel";

pub(crate) async fn stale_installs(
    conn: &mut SqliteConnection,
    seen_before: i64,
) -> StoreResult<Vec<StaleCount>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(STALE_INSTALLS)
        .bind(seen_before)
        .fetch_all(conn)
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

    #[tokio::test]
    async fn every_fleet_page_is_an_indexed_walk_without_sorting() {
        let store = crate::SqliteStore::open("sqlite::memory:").await.unwrap();
        for app in [None, Some("acme".to_string())] {
            for show in [
                InstallShow::Active,
                InstallShow::All,
                InstallShow::Uninstalled,
            ] {
                for after in [false, true] {
                    let filter = InstallFilter {
                        app: app.clone(),
                        show,
                    };
                    let steps = plan(&store.pool, &install_page_sql(&filter, after)).await;
                    assert!(
                        steps.iter().all(|s| !s.contains("TEMP B-TREE")),
                        "no sort for {filter:?} after={after}: {steps:?}"
                    );
                    let first = &steps[0];
                    let index = if app.is_some() {
                        "installs_page_by_app"
                    } else {
                        "installs_page"
                    };
                    assert!(first.contains(index), "{filter:?} uses {index}: {steps:?}");
                    if after {
                        assert!(first.contains("SEARCH"), "the cursor seeks: {steps:?}");
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn summary_is_counted_from_its_covering_index() {
        let store = crate::SqliteStore::open("sqlite::memory:").await.unwrap();
        for by_app in [false, true] {
            let steps = plan(&store.pool, &fleet_summary_sql(by_app)).await;
            assert!(
                steps
                    .iter()
                    .any(|s| s.contains("COVERING INDEX installs_summary")),
                "{steps:?}"
            );
            assert!(
                steps.iter().all(|s| !s.contains("TEMP B-TREE")),
                "{steps:?}"
            );
        }
    }

    #[tokio::test]
    async fn audit_page_seeks_by_sequence() {
        let store = crate::SqliteStore::open("sqlite::memory:").await.unwrap();
        let steps = plan(
            &store.pool,
            "SELECT seq, at, actor, action, subject, detail, request_id, hash
             FROM audit_log WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
        )
        .await;
        assert_indexed(&steps);
    }
}
