//! The connection heartbeat batches are written through: a connection of its own, whose
//! worker thread runs at the lowest CPU priority (nice 19).
//!
//! A batch of thousands of last-seen times costs SQLite tens of milliseconds of CPU
//! (a page of the install table per row, and the WAL checkpoint after it). Run at
//! normal priority on a control plane with one core, it takes its share of that core
//! from request handling in slices of milliseconds, and the check-in's latency tail is
//! made of those slices. At nice 19 it runs when requests leave the core idle, and
//! gets a sliver of it when they never do, so batches still go through under
//! saturation. An in-memory database has one connection for everything: batches use it.

use driftless_store::{StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection as _, SqlitePool};
use tokio::sync::Mutex;

/// The nice value of the batch connection's worker thread: the lowest priority.
const LOWEST_PRIORITY: i32 = 19;

/// Where heartbeat batches are written.
#[derive(Debug)]
pub(crate) enum BatchConnection {
    /// The store's own pool (an in-memory database).
    Shared(SqlitePool),
    /// A connection of its own, at the lowest priority.
    Own(Mutex<SqliteConnection>),
}

impl BatchConnection {
    /// Opens a connection with `options`, its worker thread at the lowest priority.
    pub(crate) async fn open(options: SqliteConnectOptions) -> StoreResult<Self> {
        let (done, opened) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("sqlite-batch-open".into())
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
            .map_err(|_| StoreError::Backend("the batch connection's opener died".into()))?
            .map_err(crate::error::backend)?;
        Ok(BatchConnection::Own(Mutex::new(connection)))
    }

    /// Runs `write` on the batch connection.
    pub(crate) async fn with<T>(
        &self,
        write: impl AsyncFnOnce(&mut SqliteConnection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        match self {
            BatchConnection::Shared(pool) => {
                let mut conn = pool.acquire().await.map_err(crate::error::backend)?;
                write(&mut conn).await
            }
            BatchConnection::Own(conn) => write(&mut *conn.lock().await).await,
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
    async fn heartbeat_batches_run_on_a_worker_at_the_lowest_priority_queries_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("driftless.db").display());
        let store = crate::SqliteStore::open(&url).await.unwrap();
        sqlx::query("SELECT 1").execute(&store.pool).await.unwrap();
        let nice = worker_nice_values();
        assert!(nice.contains(&super::LOWEST_PRIORITY.into()), "{nice:?}");
        assert!(nice.contains(&0), "{nice:?}");
    }
}
