//! What the vendor ships: apps, their channels and their releases.

use driftless_store::{App, Channel, Release, ReleaseState, StoreError, StoreResult};
use sqlx::{SqliteConnection, SqliteExecutor, SqlitePool};

use crate::error::{backend, conflict_or_backend, from_db, is_unique_violation, to_db};

pub(crate) async fn create_app(
    conn: &mut SqliteConnection,
    name: &str,
    now: i64,
) -> StoreResult<App> {
    sqlx::query("INSERT INTO apps (name, created_at) VALUES (?1, ?2)")
        .bind(name)
        .bind(now)
        .execute(conn)
        .await
        .map_err(|e| conflict_or_backend(e, || format!("app `{name}`")))?;
    Ok(App {
        name: name.to_owned(),
        created_at: now,
    })
}

pub(crate) async fn list_apps(pool: &SqlitePool) -> StoreResult<Vec<App>> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, created_at FROM apps ORDER BY name")
            .fetch_all(pool)
            .await
            .map_err(backend)?;
    Ok(rows
        .into_iter()
        .map(|(name, created_at)| App { name, created_at })
        .collect())
}

pub(crate) async fn get_app(pool: &SqlitePool, name: &str) -> StoreResult<Option<App>> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT name, created_at FROM apps WHERE name = ?1")
            .bind(name)
            .fetch_optional(pool)
            .await
            .map_err(backend)?;
    Ok(row.map(|(name, created_at)| App { name, created_at }))
}

pub(crate) async fn app_exists<'e>(ex: impl SqliteExecutor<'e>, name: &str) -> StoreResult<bool> {
    exists(ex, "SELECT 1 FROM apps WHERE name = ?1", &[name]).await
}

pub(crate) async fn channel_exists<'e>(
    ex: impl SqliteExecutor<'e>,
    app: &str,
    name: &str,
) -> StoreResult<bool> {
    exists(
        ex,
        "SELECT 1 FROM channels WHERE app = ?1 AND name = ?2",
        &[app, name],
    )
    .await
}

/// Runs a `SELECT 1 ...` with text parameters and says whether it found a row.
pub(crate) async fn exists<'e>(
    ex: impl SqliteExecutor<'e>,
    sql: &str,
    params: &[&str],
) -> StoreResult<bool> {
    let mut query = sqlx::query(sql);
    for param in params {
        query = query.bind(*param);
    }
    Ok(query.fetch_optional(ex).await.map_err(backend)?.is_some())
}

pub(crate) async fn create_channel(
    conn: &mut SqliteConnection,
    app: &str,
    name: &str,
    now: i64,
) -> StoreResult<Channel> {
    // One statement: the parent check and the insert cannot interleave with another writer.
    let inserted = sqlx::query(
        "INSERT INTO channels (app, name, version, updated_at)
         SELECT ?1, ?2, NULL, ?3 WHERE EXISTS (SELECT 1 FROM apps WHERE name = ?1)",
    )
    .bind(app)
    .bind(name)
    .bind(now)
    .execute(conn)
    .await
    .map_err(|e| conflict_or_backend(e, || format!("channel `{app}/{name}`")))?
    .rows_affected();
    if inserted == 0 {
        return Err(StoreError::Missing {
            what: format!("app `{app}`"),
        });
    }
    Ok(Channel {
        app: app.to_owned(),
        name: name.to_owned(),
        version: None,
        updated_at: now,
    })
}

type ChannelRow = (String, String, Option<String>, i64);

fn channel_from_row((app, name, version, updated_at): ChannelRow) -> Channel {
    Channel {
        app,
        name,
        version,
        updated_at,
    }
}

pub(crate) async fn list_channels(pool: &SqlitePool, app: &str) -> StoreResult<Vec<Channel>> {
    let rows: Vec<ChannelRow> = sqlx::query_as(
        "SELECT app, name, version, updated_at FROM channels WHERE app = ?1 ORDER BY name",
    )
    .bind(app)
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    Ok(rows.into_iter().map(channel_from_row).collect())
}

pub(crate) async fn get_channel(
    pool: &SqlitePool,
    app: &str,
    name: &str,
) -> StoreResult<Option<Channel>> {
    let row: Option<ChannelRow> = sqlx::query_as(
        "SELECT app, name, version, updated_at FROM channels WHERE app = ?1 AND name = ?2",
    )
    .bind(app)
    .bind(name)
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    Ok(row.map(channel_from_row))
}

/// Points a channel at a release on the caller's transaction, which must hold the
/// write lock so the history row cannot land out of order with another writer's.
pub(crate) async fn set_channel_release(
    conn: &mut SqliteConnection,
    app: &str,
    channel: &str,
    version: &str,
    now: i64,
) -> StoreResult<()> {
    if point_channel_at(conn, app, channel, version, now).await? {
        return Ok(());
    }
    Err(StoreError::Missing {
        what: missing_channel_release(conn, app, channel, version).await?,
    })
}

/// Points a channel at a release and appends it to the channel's history, on the
/// caller's transaction; false (and nothing written) if the channel or the release
/// does not exist.
pub(crate) async fn point_channel_at(
    conn: &mut SqliteConnection,
    app: &str,
    channel: &str,
    version: &str,
    now: i64,
) -> StoreResult<bool> {
    let updated = sqlx::query(
        "UPDATE channels SET version = ?3, updated_at = ?4
         WHERE app = ?1 AND name = ?2
           AND EXISTS (SELECT 1 FROM releases WHERE app = ?1 AND version = ?3)",
    )
    .bind(app)
    .bind(channel)
    .bind(version)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(backend)?
    .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    sqlx::query("INSERT INTO channel_history (app, channel, version, at) VALUES (?1, ?2, ?3, ?4)")
        .bind(app)
        .bind(channel)
        .bind(version)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(true)
}

/// Which of a channel and a release [`point_channel_at`] found missing, for the message.
pub(crate) async fn missing_channel_release(
    conn: &mut SqliteConnection,
    app: &str,
    channel: &str,
    version: &str,
) -> StoreResult<String> {
    Ok(if channel_exists(conn, app, channel).await? {
        format!("release {app}@{version}")
    } else {
        format!("channel `{app}/{channel}`")
    })
}

/// The statement behind [`channel_history`]: each version once, by its newest entry.
pub(crate) const CHANNEL_HISTORY: &str = "SELECT version FROM channel_history
     WHERE app = ?1 AND channel = ?2
     GROUP BY version ORDER BY MAX(id) DESC";

pub(crate) async fn channel_history(
    pool: &SqlitePool,
    app: &str,
    channel: &str,
) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(CHANNEL_HISTORY)
        .bind(app)
        .bind(channel)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
    Ok(rows.into_iter().map(|(version,)| version).collect())
}

pub(crate) async fn insert_release(
    conn: &mut SqliteConnection,
    release: &Release,
) -> StoreResult<()> {
    let counter = to_db(release.release_counter, "release counter")?;
    let result = sqlx::query(
        "INSERT INTO releases (app, version, release_counter, digest, envelope, created_at,
                               state)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM apps WHERE name = ?1)",
    )
    .bind(&release.app)
    .bind(&release.version)
    .bind(counter)
    .bind(&release.digest)
    .bind(&release.envelope)
    .bind(release.created_at)
    .bind(release.state.name())
    .execute(&mut *conn)
    .await;
    match result {
        Ok(done) if done.rows_affected() == 0 => Err(StoreError::Missing {
            what: format!("app `{}`", release.app),
        }),
        Ok(_) => Ok(()),
        Err(err) if is_unique_violation(&err) => Err(StoreError::Conflict {
            what: release_conflict(conn, release).await?,
        }),
        Err(err) => Err(backend(err)),
    }
}

/// Names the key that made an insert collide. Releases are never deleted, so the row
/// that collided is still there to be found.
async fn release_conflict(conn: &mut SqliteConnection, release: &Release) -> StoreResult<String> {
    let app = &release.app;
    if get_release(conn, app, &release.version).await?.is_some() {
        Ok(format!("release {app}@{}", release.version))
    } else {
        Ok(format!(
            "release counter {} of {app}",
            release.release_counter
        ))
    }
}

#[derive(sqlx::FromRow)]
struct ReleaseRow {
    app: String,
    version: String,
    release_counter: i64,
    digest: String,
    envelope: String,
    created_at: i64,
    state: String,
}

impl TryFrom<ReleaseRow> for Release {
    type Error = StoreError;

    fn try_from(row: ReleaseRow) -> StoreResult<Self> {
        Ok(Release {
            release_counter: from_db(row.release_counter, "release counter")?,
            state: release_state(&row.state)?,
            app: row.app,
            version: row.version,
            digest: row.digest,
            envelope: row.envelope,
            created_at: row.created_at,
        })
    }
}

/// A stored release state; an unknown name means the row is corrupt.
pub(crate) fn release_state(name: &str) -> StoreResult<ReleaseState> {
    ReleaseState::parse(name)
        .ok_or_else(|| StoreError::Backend(format!("stored release state `{name}` is unknown")))
}

const RELEASE_COLUMNS: &str = "app, version, release_counter, digest, envelope, created_at, state";

pub(crate) async fn get_release<'e>(
    ex: impl SqliteExecutor<'e>,
    app: &str,
    version: &str,
) -> StoreResult<Option<Release>> {
    let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE app = ?1 AND version = ?2");
    let row: Option<ReleaseRow> = sqlx::query_as(&sql)
        .bind(app)
        .bind(version)
        .fetch_optional(ex)
        .await
        .map_err(backend)?;
    row.map(Release::try_from).transpose()
}

pub(crate) async fn list_releases(pool: &SqlitePool, app: &str) -> StoreResult<Vec<Release>> {
    let sql = format!(
        "SELECT {RELEASE_COLUMNS} FROM releases WHERE app = ?1 ORDER BY release_counter DESC"
    );
    let rows: Vec<ReleaseRow> = sqlx::query_as(&sql)
        .bind(app)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
    rows.into_iter().map(Release::try_from).collect()
}

pub(crate) async fn set_release_state(
    conn: &mut SqliteConnection,
    app: &str,
    version: &str,
    state: ReleaseState,
) -> StoreResult<bool> {
    let updated = sqlx::query("UPDATE releases SET state = ?3 WHERE app = ?1 AND version = ?2")
        .bind(app)
        .bind(version)
        .bind(state.name())
        .execute(conn)
        .await
        .map_err(backend)?
        .rows_affected();
    Ok(updated > 0)
}

pub(crate) async fn max_release_counter(pool: &SqlitePool, app: &str) -> StoreResult<u64> {
    let (max,): (i64,) =
        sqlx::query_as("SELECT COALESCE(MAX(release_counter), 0) FROM releases WHERE app = ?1")
            .bind(app)
            .fetch_one(pool)
            .await
            .map_err(backend)?;
    from_db(max, "release counter")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::query_plan::{assert_indexed, plan};

    #[tokio::test]
    async fn channel_history_reads_only_the_channels_rows() {
        let store = crate::SqliteStore::open("sqlite::memory:").await.unwrap();
        let steps = plan(&store.pool, CHANNEL_HISTORY).await;
        // Sorting one channel's handful of versions is fine; reading them must not scan.
        let reads: Vec<_> = steps
            .iter()
            .filter(|step| !step.starts_with("USE TEMP B-TREE"))
            .cloned()
            .collect();
        assert_indexed(&reads);
        assert!(reads[0].contains("channel_history_by_channel"), "{steps:?}");
    }
}
