//! Staged rollouts of a release to a channel, and how the channel's installs fared.
//!
//! A channel has at most one active rollout (running, paused or halted): the partial
//! unique index `rollouts_active_by_channel` refuses a second one, and the check-in
//! read finds the active one through it.
//!
//! An update is a compare-and-set on the rollout's `revision`, in one `BEGIN IMMEDIATE`
//! transaction with the channel switch and the audit entry it carries: all of it is
//! saved, or none.

use driftless_store::{
    Rollout, RolloutOutcomes, RolloutState, RolloutUpdate, StoreError, StoreResult,
};
use sqlx::{SqliteConnection, SqlitePool};

use crate::catalog::{
    app_exists, channel_exists, exists, missing_channel_release, point_channel_at,
};
use crate::error::{backend, from_db, is_unique_violation, to_db};

/// The active states, exactly as the partial index `rollouts_active_by_channel` lists
/// them: SQLite uses a partial index only for a query that repeats its condition.
pub(crate) const ACTIVE_STATES: &str = "('running', 'paused', 'halted')";

/// A rollout's columns from `rollouts ro`, prefixed so they can sit beside an install's.
pub(crate) const ROLLOUT_COLUMNS: &str = "ro.id AS rollout_id, ro.app AS rollout_app, \
     ro.channel AS rollout_channel, ro.version AS rollout_version, \
     ro.previous_version AS rollout_previous_version, ro.waves AS rollout_waves, \
     ro.wave_index AS rollout_wave_index, ro.wave_started_at AS rollout_wave_started_at, \
     ro.interval_s AS rollout_interval_s, ro.state AS rollout_state, \
     ro.min_failures AS rollout_min_failures, ro.max_failure_pct AS rollout_max_failure_pct, \
     ro.reason AS rollout_reason, ro.created_at AS rollout_created_at, \
     ro.updated_at AS rollout_updated_at, ro.revision AS rollout_revision";

/// A rollout's columns; all `None` when a LEFT JOIN found no rollout.
#[derive(sqlx::FromRow)]
pub(crate) struct RolloutColumns {
    rollout_id: Option<i64>,
    rollout_app: Option<String>,
    rollout_channel: Option<String>,
    rollout_version: Option<String>,
    rollout_previous_version: Option<String>,
    rollout_waves: Option<String>,
    rollout_wave_index: Option<i64>,
    rollout_wave_started_at: Option<i64>,
    rollout_interval_s: Option<i64>,
    rollout_state: Option<String>,
    rollout_min_failures: Option<i64>,
    rollout_max_failure_pct: Option<i64>,
    rollout_reason: Option<String>,
    rollout_created_at: Option<i64>,
    rollout_updated_at: Option<i64>,
    rollout_revision: Option<i64>,
}

impl RolloutColumns {
    /// The rollout, or `None` if there was none.
    pub(crate) fn into_rollout(self) -> StoreResult<Option<Rollout>> {
        let Some(id) = self.rollout_id else {
            return Ok(None);
        };
        let corrupt = || StoreError::Backend(format!("rollout #{id} is partially stored"));
        let (
            Some(app),
            Some(channel),
            Some(version),
            Some(waves),
            Some(wave_index),
            Some(wave_started_at),
            Some(state),
            Some(min_failures),
            Some(max_failure_pct),
            Some(created_at),
            Some(updated_at),
            Some(revision),
        ) = (
            self.rollout_app,
            self.rollout_channel,
            self.rollout_version,
            self.rollout_waves,
            self.rollout_wave_index,
            self.rollout_wave_started_at,
            self.rollout_state,
            self.rollout_min_failures,
            self.rollout_max_failure_pct,
            self.rollout_created_at,
            self.rollout_updated_at,
            self.rollout_revision,
        )
        else {
            return Err(corrupt());
        };
        Ok(Some(Rollout {
            id,
            app,
            channel,
            version,
            previous_version: self.rollout_previous_version,
            waves: serde_json::from_str(&waves).map_err(|e| {
                StoreError::Backend(format!("rollout #{id} has unreadable waves `{waves}`: {e}"))
            })?,
            wave_index: to_u32(wave_index, id, "wave index")?,
            wave_started_at,
            interval_s: self.rollout_interval_s,
            state: RolloutState::parse(&state).ok_or_else(|| {
                StoreError::Backend(format!("rollout #{id} has unknown state `{state}`"))
            })?,
            min_failures: to_u32(min_failures, id, "min failures")?,
            max_failure_pct: to_u32(max_failure_pct, id, "max failure percentage")?,
            reason: self.rollout_reason,
            created_at,
            updated_at,
            revision: from_db(revision, "rollout revision")?,
        }))
    }
}

/// A stored INTEGER back as `u32`; out of range means the row is corrupt.
fn to_u32(value: i64, id: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(value)
        .map_err(|_| StoreError::Backend(format!("rollout #{id} has {what} {value} out of range")))
}

/// Runs a rollout query with text parameters and reads every row.
async fn fetch_rollouts(
    pool: &SqlitePool,
    sql: &str,
    params: &[&str],
) -> StoreResult<Vec<Rollout>> {
    let mut query = sqlx::query_as::<_, RolloutColumns>(sql);
    for param in params {
        query = query.bind(*param);
    }
    let rows = query.fetch_all(pool).await.map_err(backend)?;
    rows.into_iter()
        .filter_map(|row| row.into_rollout().transpose())
        .collect()
}

pub(crate) async fn create_rollout(
    conn: &mut SqliteConnection,
    rollout: &Rollout,
) -> StoreResult<i64> {
    let waves = serde_json::to_string(&rollout.waves)
        .map_err(|e| StoreError::Backend(format!("cannot encode rollout waves: {e}")))?;
    // One statement: the parents are checked by the same statement that inserts.
    let result = sqlx::query(
        "INSERT INTO rollouts (app, channel, version, previous_version, waves, wave_index,
                               wave_started_at, interval_s, state, min_failures,
                               max_failure_pct, reason, created_at, updated_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
         WHERE EXISTS (SELECT 1 FROM channels WHERE app = ?1 AND name = ?2)
           AND EXISTS (SELECT 1 FROM releases WHERE app = ?1 AND version = ?3)
           AND (?4 IS NULL OR EXISTS (SELECT 1 FROM releases WHERE app = ?1 AND version = ?4))",
    )
    .bind(&rollout.app)
    .bind(&rollout.channel)
    .bind(&rollout.version)
    .bind(&rollout.previous_version)
    .bind(waves)
    .bind(i64::from(rollout.wave_index))
    .bind(rollout.wave_started_at)
    .bind(rollout.interval_s)
    .bind(rollout.state.name())
    .bind(i64::from(rollout.min_failures))
    .bind(i64::from(rollout.max_failure_pct))
    .bind(&rollout.reason)
    .bind(rollout.created_at)
    .bind(rollout.updated_at)
    .execute(&mut *conn)
    .await;
    match result {
        Ok(done) if done.rows_affected() == 0 => Err(StoreError::Missing {
            what: missing_rollout_parent(conn, rollout).await?,
        }),
        Ok(done) => Ok(done.last_insert_rowid()),
        Err(err) if is_unique_violation(&err) => Err(active_conflict(rollout)),
        Err(err) => Err(backend(err)),
    }
}

/// The only unique key a rollout has beyond its id: one active rollout per channel.
fn active_conflict(rollout: &Rollout) -> StoreError {
    StoreError::Conflict {
        what: format!(
            "an active rollout on channel `{}/{}`",
            rollout.app, rollout.channel
        ),
    }
}

/// Which of app, channel, release and previous release a rollout's insert found missing.
async fn missing_rollout_parent(
    conn: &mut SqliteConnection,
    rollout: &Rollout,
) -> StoreResult<String> {
    let app = &rollout.app;
    if !app_exists(&mut *conn, app).await? {
        return Ok(format!("app `{app}`"));
    }
    if !channel_exists(&mut *conn, app, &rollout.channel).await? {
        return Ok(format!("channel `{app}/{}`", rollout.channel));
    }
    let release_sql = "SELECT 1 FROM releases WHERE app = ?1 AND version = ?2";
    for version in std::iter::once(&rollout.version).chain(&rollout.previous_version) {
        if !exists(&mut *conn, release_sql, &[app, version]).await? {
            return Ok(format!("release {app}@{version}"));
        }
    }
    // Every parent is there now: one appeared between the insert and the check.
    Err(StoreError::Backend(format!(
        "rollout of {app}@{} was not inserted although its channel and releases exist",
        rollout.version
    )))
}

/// The statement behind [`active_rollout`]; served by `rollouts_active_by_channel`.
pub(crate) fn active_rollout_sql() -> String {
    format!(
        "SELECT {ROLLOUT_COLUMNS} FROM rollouts ro
         WHERE ro.app = ?1 AND ro.channel = ?2 AND ro.state IN {ACTIVE_STATES}"
    )
}

pub(crate) async fn active_rollout(
    pool: &SqlitePool,
    app: &str,
    channel: &str,
) -> StoreResult<Option<Rollout>> {
    let sql = active_rollout_sql();
    Ok(fetch_rollouts(pool, &sql, &[app, channel]).await?.pop())
}

/// The statement behind [`running_rollouts`]; served by `rollouts_by_state`.
pub(crate) fn running_rollouts_sql() -> String {
    format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts ro WHERE ro.state = 'running' ORDER BY ro.id")
}

pub(crate) async fn running_rollouts(pool: &SqlitePool) -> StoreResult<Vec<Rollout>> {
    fetch_rollouts(pool, &running_rollouts_sql(), &[]).await
}

/// The statement behind [`list_rollouts`]; served by `rollouts_by_app`. The id breaks
/// ties between rollouts created in the same second: later insert first.
pub(crate) fn list_rollouts_sql() -> String {
    format!(
        "SELECT {ROLLOUT_COLUMNS} FROM rollouts ro
         WHERE ro.app = ?1 ORDER BY ro.created_at DESC, ro.id DESC"
    )
}

pub(crate) async fn list_rollouts(pool: &SqlitePool, app: &str) -> StoreResult<Vec<Rollout>> {
    fetch_rollouts(pool, &list_rollouts_sql(), &[app]).await
}

/// Saves a rollout's mutable fields and bumps its revision, only if it is still at the
/// revision the caller read (`?7`). The one statement is the compare-and-set.
const UPDATE_ROLLOUT: &str = "UPDATE rollouts SET state = ?2, wave_index = ?3,
        wave_started_at = ?4, reason = ?5, updated_at = ?6, revision = revision + 1
     WHERE id = ?1 AND revision = ?7";

/// Why an update's transaction wrote nothing.
enum Refused {
    /// No row at the expected revision: moved on, or never there.
    NotAtRevision,
    /// The channel or the release it should point at does not exist.
    NoChannelRelease(String),
}

pub(crate) async fn update_rollout(
    pool: &SqlitePool,
    update: &RolloutUpdate,
) -> StoreResult<Rollout> {
    // IMMEDIATE: the write lock is held from the start, so the audit head read in the
    // transaction cannot move before it commits.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
    let refused = match write_update(&mut tx, update).await {
        Ok(Ok(stored)) => {
            tx.commit().await.map_err(backend)?;
            return Ok(stored);
        }
        Ok(Err(refused)) => {
            // Release the connection before explaining: an in-memory pool has only one.
            tx.rollback().await.map_err(backend)?;
            refused
        }
        Err(err) => {
            tx.rollback().await.map_err(backend)?;
            return Err(err);
        }
    };
    let rollout = &update.rollout;
    let (app, channel) = (&rollout.app, &rollout.channel);
    match refused {
        Refused::NoChannelRelease(version) => {
            let mut conn = pool.acquire().await.map_err(backend)?;
            Err(StoreError::Missing {
                what: missing_channel_release(&mut conn, app, channel, &version).await?,
            })
        }
        Refused::NotAtRevision => {
            let found = sqlx::query("SELECT 1 FROM rollouts WHERE id = ?1")
                .bind(rollout.id)
                .fetch_optional(pool)
                .await
                .map_err(backend)?;
            let what = format!("rollout #{} of {app}/{channel}", rollout.id);
            Err(match found {
                Some(_) => StoreError::Stale { what },
                None => StoreError::Missing { what },
            })
        }
    }
}

/// The update's writes on `conn`: the rollout (compare-and-set), the channel switch and
/// the audit entry. Returns the rollout as stored, or why nothing should be committed.
async fn write_update(
    conn: &mut SqliteConnection,
    update: &RolloutUpdate,
) -> StoreResult<Result<Rollout, Refused>> {
    let rollout = &update.rollout;
    let result = sqlx::query(UPDATE_ROLLOUT)
        .bind(rollout.id)
        .bind(rollout.state.name())
        .bind(i64::from(rollout.wave_index))
        .bind(rollout.wave_started_at)
        .bind(&rollout.reason)
        .bind(rollout.updated_at)
        .bind(to_db(rollout.revision, "rollout revision")?)
        .execute(&mut *conn)
        .await;
    match result {
        Ok(done) if done.rows_affected() == 0 => return Ok(Err(Refused::NotAtRevision)),
        Ok(_) => {}
        // Making a finished rollout active again while another is active.
        Err(err) if is_unique_violation(&err) => return Err(active_conflict(rollout)),
        Err(err) => return Err(backend(err)),
    }
    if let Some(version) = &update.channel_release {
        let (app, channel) = (&rollout.app, &rollout.channel);
        if !point_channel_at(conn, app, channel, version, rollout.updated_at).await? {
            return Ok(Err(Refused::NoChannelRelease(version.clone())));
        }
    }
    if let Some(event) = &update.audit {
        crate::audit::append_in(conn, event).await?;
    }
    let sql = format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts ro WHERE ro.id = ?1");
    let row: RolloutColumns = sqlx::query_as(&sql)
        .bind(rollout.id)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    let stored = row.into_rollout()?.ok_or_else(|| {
        StoreError::Backend(format!("rollout #{} vanished while updated", rollout.id))
    })?;
    Ok(Ok(stored))
}

/// The statement behind [`rollout_outcomes`]: one pass over the channel's installs
/// through `installs_by_channel`. GLOB, not LIKE: SQLite's LIKE ignores case, and
/// `FAILED:x` is not a status the protocol defines (nor one PostgreSQL's LIKE matches).
pub(crate) const ROLLOUT_OUTCOMES: &str = "SELECT
        COALESCE(SUM(report_target_version = ?3 OR report_version = ?3), 0),
        COALESCE(SUM(report_status GLOB 'failed:*' AND report_target_version = ?3), 0),
        COALESCE(SUM(report_version = ?3 AND report_status = 'converged'), 0)
     FROM installs
     WHERE app = ?1 AND channel = ?2 AND revoked = 0";

pub(crate) async fn rollout_outcomes(
    pool: &SqlitePool,
    app: &str,
    channel: &str,
    version: &str,
) -> StoreResult<RolloutOutcomes> {
    let (tried, failed, converged): (i64, i64, i64) = sqlx::query_as(ROLLOUT_OUTCOMES)
        .bind(app)
        .bind(channel)
        .bind(version)
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    Ok(RolloutOutcomes {
        tried: from_db(tried, "installs that tried a release")?,
        failed: from_db(failed, "installs that failed a release")?,
        converged: from_db(converged, "installs that converged on a release")?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::query_plan::{assert_indexed, plan};

    async fn store() -> crate::SqliteStore {
        crate::SqliteStore::open("sqlite::memory:").await.unwrap()
    }

    #[tokio::test]
    async fn active_rollout_is_found_through_the_partial_index() {
        let store = store().await;
        let steps = plan(&store.pool, &active_rollout_sql()).await;
        assert_indexed(&steps);
        assert!(steps[0].contains("rollouts_active_by_channel"), "{steps:?}");
    }

    #[tokio::test]
    async fn running_rollouts_are_found_by_state_index() {
        let store = store().await;
        let steps = plan(&store.pool, &running_rollouts_sql()).await;
        assert_indexed(&steps);
        assert!(steps[0].contains("rollouts_by_state"), "{steps:?}");
    }

    #[tokio::test]
    async fn an_apps_rollouts_are_found_and_ordered_by_index() {
        let store = store().await;
        let steps = plan(&store.pool, &list_rollouts_sql()).await;
        // One step: the index also yields the order, so there is no sort.
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert_indexed(&steps);
        assert!(steps[0].contains("rollouts_by_app"), "{steps:?}");
    }

    #[tokio::test]
    async fn outcomes_read_only_the_channels_installs() {
        let store = store().await;
        let steps = plan(&store.pool, ROLLOUT_OUTCOMES).await;
        assert_indexed(&steps);
        assert!(steps[0].contains("installs_by_channel"), "{steps:?}");
    }

    #[tokio::test]
    async fn updating_a_rollout_finds_it_by_id() {
        let store = store().await;
        assert_indexed(&plan(&store.pool, UPDATE_ROLLOUT).await);
    }
}
