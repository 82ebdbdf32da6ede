//! Which database `serve` uses, and opening it: the backend is chosen by the URL's
//! scheme (`sqlite://…` or `postgres://…`). The URL comes from `--database-url`, else
//! `DRIFTLESS_DATABASE_URL`, else `database_url` in settings.toml, else the SQLite file
//! in the data directory.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use driftless_exit::{code, Coded, HintExt as _};
use driftless_store::{Store, StoreError};
use driftless_store_postgres::{redact_url, PgStore};
use driftless_store_sqlite::SqliteStore;

use crate::datadir::{DataDir, Settings};

/// Where the URL options are, for hints.
const WHERE_URL_IS_SET: &str =
    "--database-url, DRIFTLESS_DATABASE_URL or `database_url` in settings.toml";

/// The database URL in force: the command line's (or its environment variable's), else
/// the settings', else the data directory's SQLite file.
pub fn resolve_url(given: Option<&str>, settings: &Settings, dir: &DataDir) -> String {
    given
        .map(str::to_owned)
        .or_else(|| settings.database_url.clone())
        .unwrap_or_else(|| sqlite_url(dir))
}

/// The URL of the data directory's SQLite file, the default.
pub fn sqlite_url(dir: &DataDir) -> String {
    format!("sqlite://{}", dir.database().display())
}

/// The backends a URL can name.
enum Backend {
    Sqlite,
    Postgres,
}

/// The backend `url` names by its scheme; an unknown scheme is bad input.
fn backend_of(url: &str) -> Result<Backend> {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    match scheme {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        _ => Err(driftless_exit::InvalidInput(format!(
            "database URL `{}` has no scheme Driftless knows",
            redact_url(url)
        )))
        .hint(format!(
            "use sqlite:///path/to/driftless.db or postgres://user:password@host:5432/db in {WHERE_URL_IS_SET}"
        )),
    }
}

/// Opens (and migrates) the store at `url`. A database that cannot be reached fails
/// with [`code::UNREACHABLE`] and names the URL, its password redacted.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    let opened: Result<Arc<dyn Store>, StoreError> = match backend_of(url)? {
        Backend::Sqlite => SqliteStore::open(url)
            .await
            .map(|s| Arc::new(s) as Arc<dyn Store>),
        Backend::Postgres => PgStore::open(url)
            .await
            .map(|s| Arc::new(s) as Arc<dyn Store>),
    };
    match opened {
        Ok(store) => Ok(store),
        Err(StoreError::Unavailable(cause)) => Err(anyhow::Error::new(Coded(
            code::UNREACHABLE,
            format!("the database is unreachable: {cause}"),
        )))
        .hint(format!(
            "start the database server, or correct its URL in {WHERE_URL_IS_SET}"
        )),
        Err(e) => Err(e).with_context(|| format!("cannot use the database `{}`", redact_url(url))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_backend() {
        assert!(matches!(backend_of("sqlite:///x.db"), Ok(Backend::Sqlite)));
        assert!(matches!(
            backend_of("postgres://h/db"),
            Ok(Backend::Postgres)
        ));
        assert!(matches!(
            backend_of("postgresql://h/db"),
            Ok(Backend::Postgres)
        ));
        let err = backend_of("mysql://u:secret@h/db").err().unwrap();
        assert_eq!(driftless_exit::exit_code(&err), code::INVALID_INPUT);
        let line = driftless_exit::one_line(&err);
        assert!(
            line.contains("mysql://u:***@h/db") && !line.contains("secret"),
            "{line}"
        );
    }
}
