//! Refuses a database whose schema this build cannot use, before migrating it: one
//! migrated by a newer Driftless (a version this build does not know), or one whose
//! applied migration differs from this build's (edited after it was applied), or one
//! a migration failed half-way in.

use driftless_store::StoreResult;
use sqlx::migrate::Migrator;
use sqlx::SqlitePool;

use crate::error::backend;

/// One row of sqlx's `_sqlx_migrations` table.
type Applied = (i64, Vec<u8>, bool);

/// Checks the applied migrations against `migrator`'s; the missing ones are left for
/// the migrator to apply.
pub(crate) async fn check(pool: &SqlitePool, migrator: &Migrator) -> StoreResult<()> {
    let table: Option<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    if table.is_none() {
        return Ok(());
    }
    let applied: Vec<Applied> =
        sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pool)
            .await
            .map_err(backend)?;
    compare(&applied, migrator)
}

/// The comparison itself, on rows already read.
fn compare(applied: &[Applied], migrator: &Migrator) -> StoreResult<()> {
    let known: Vec<(i64, &[u8])> = migrator
        .iter()
        .map(|m| (m.version, m.checksum.as_ref()))
        .collect();
    driftless_store::schema_check::check_applied(applied, &known)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn applied_as_built() -> Vec<Applied> {
        crate::MIGRATOR
            .iter()
            .map(|m| (m.version, m.checksum.to_vec(), true))
            .collect()
    }

    #[test]
    fn the_migrations_of_this_build_pass() {
        compare(&applied_as_built(), &crate::MIGRATOR).unwrap();
        compare(&[], &crate::MIGRATOR).unwrap();
    }

    #[test]
    fn an_unknown_newer_version_names_found_and_expected() {
        let mut applied = applied_as_built();
        let expected = applied.last().unwrap().0;
        applied.push((expected + 1, vec![0; 48], true));
        let err = compare(&applied, &crate::MIGRATOR).unwrap_err().to_string();
        assert!(
            err.contains(&format!("at version {}", expected + 1))
                && err.contains(&format!("expects version {expected}")),
            "{err}"
        );
    }

    #[test]
    fn an_edited_migration_is_refused() {
        let mut applied = applied_as_built();
        applied[0].1 = vec![0; 48];
        let err = compare(&applied, &crate::MIGRATOR).unwrap_err().to_string();
        assert!(
            err.contains("migration 1 applied to this database differs"),
            "{err}"
        );
    }

    #[test]
    fn a_failed_migration_is_refused() {
        let mut applied = applied_as_built();
        applied[0].2 = false;
        let err = compare(&applied, &crate::MIGRATOR).unwrap_err().to_string();
        assert!(err.contains("failed part-way"), "{err}");
    }
}
