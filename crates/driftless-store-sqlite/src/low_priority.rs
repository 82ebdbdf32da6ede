//! Connections of their own whose worker threads run at the lowest CPU priority
//! (nice 19), for the work no request waits on: heartbeat batches, and the scans of
//! the whole fleet behind the fleet summary and the stale-install count.
//!
//! A batch of thousands of last-seen times costs SQLite tens of milliseconds of CPU
//! (a page of the install table per row, and the WAL checkpoint after it); a scan of a
//! million installs costs about a second. Run at normal priority on a control plane
//! with one core, either takes its share of that core from request handling in slices
//! of milliseconds, and the check-in's latency tail is made of those slices. At nice 19
//! it runs when requests leave the core idle, and gets a sliver of it when they never
//! do, so it still goes through under saturation, only later. An in-memory database
//! has one connection for everything: this work uses it too.

use driftless_store::{StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection as _, SqlitePool};
use tokio::sync::Mutex;

/// The nice value of the batch connection's worker thread: the lowest priority.
const LOWEST_PRIORITY: i32 = 19;

/// A connection for work no request waits on.
#[derive(Debug)]
pub(crate) enum LowPriority {
    /// The store's own pool (an in-memory database).
    Shared(SqlitePool),
    /// A connection of its own, at the lowest priority.
    Own(Mutex<SqliteConnection>),
}

impl LowPriority {
    /// Opens a connection with `options`, its worker thread at the lowest priority;
    /// `name` says what it is for, in errors.
    pub(crate) async fn open(options: SqliteConnectOptions, name: &str) -> StoreResult<Self> {
        let (done, opened) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("sqlite-nice19".into())
            .spawn(move || {
                // On Linux this sets the calling thread's nice value, and the
                // connection's worker thread, spawned from this one, inherits it. A
                // refusal only costs latency, not correctness.
                let _ = rustix::process::setpriority_process(None, LOWEST_PRIORITY);
                let connected = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(sqlx::Error::Io)
                    .and_then(|rt| rt.block_on(SqliteConnection::connect_with(&options)));
                let _ = done.send(connected);
            })
            .map_err(|e| StoreError::Backend(format!("cannot start a thread: {e}")))?;
        let connection = opened
            .await
            .map_err(|_| StoreError::Backend(format!("the {name} connection's opener died")))?
            .map_err(crate::error::backend)?;
        Ok(LowPriority::Own(Mutex::new(connection)))
    }

    /// Runs `work` on this connection.
    pub(crate) async fn with<T>(
        &self,
        work: impl AsyncFnOnce(&mut SqliteConnection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        match self {
            LowPriority::Shared(pool) => {
                let mut conn = pool.acquire().await.map_err(crate::error::backend)?;
                work(&mut conn).await
            }
            LowPriority::Own(conn) => work(&mut *conn.lock().await).await,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    /// The nice value of each of this process's SQLite worker threads.
    fn worker_nice_values() -> Vec<i64> {
        let mut out = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else {
                continue;
            };
            let (head, rest) = stat.rsplit_once(')').unwrap();
            if !head.contains("sqlx-sqlite-wor") {
                continue;
            }
            // After the name: state is field 3 of stat(5), nice field 19.
            out.push(rest.split_whitespace().nth(16).unwrap().parse().unwrap());
        }
        out
    }

    #[tokio::test]
    async fn its_workers_run_at_the_lowest_priority_queries_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("driftless.db").display());
        let store = crate::SqliteStore::open(&url).await.unwrap();
        sqlx::query("SELECT 1").execute(&store.pool).await.unwrap();
        let nice = worker_nice_values();
        assert!(nice.contains(&super::LOWEST_PRIORITY.into()), "{nice:?}");
        assert!(nice.contains(&0), "{nice:?}");
    }

    #[tokio::test]
    async fn the_fleet_is_scanned_through_a_low_priority_connection_of_its_own() {
        use driftless_store::Store as _;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("driftless.db").display());
        let store = crate::SqliteStore::open(&url).await.unwrap();
        assert!(matches!(*store.scans, super::LowPriority::Own(_)));
        assert!(matches!(*store.batches, super::LowPriority::Own(_)));
        // A temporary table is seen by the connection that made it only, and shadows
        // the install table there: what the scans count shows where they ran.
        store
            .scans
            .with(async |conn| {
                sqlx::raw_sql(
                    "CREATE TEMP TABLE installs AS SELECT * FROM main.installs WHERE 0;
                     INSERT INTO temp.installs (app, channel, report_status, report_at, revoked)
                     VALUES ('on-the-scan-connection', 'stable', 'running', 1, 0);",
                )
                .execute(&mut *conn)
                .await
                .map_err(crate::error::backend)?;
                Ok(())
            })
            .await
            .unwrap();
        let summary = store.fleet_summary(None).await.unwrap();
        assert_eq!(summary.total, 1, "{summary:?}");
        assert_eq!(summary.counts[0].app, "on-the-scan-connection");
        let stale = store.stale_installs(2).await.unwrap();
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert_eq!(stale[0].app, "on-the-scan-connection");
        let elsewhere: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM installs")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(elsewhere, 0, "the pool's connections see the real table");
        let batches = store
            .batches
            .with(async |conn| {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM installs")
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(crate::error::backend)
            })
            .await
            .unwrap();
        assert_eq!(batches, 0, "batches have a connection of their own");
    }
}
