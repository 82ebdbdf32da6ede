//! The schema-version check both SQL backends run at start, before migrating: the
//! comparison of what a database applied with what this build knows, apart from how
//! each backend reads its migrations table.

use crate::{StoreError, StoreResult};

/// Checks the migrations a database says it applied, `(version, checksum, success)`,
/// against the ones this build knows, `(version, checksum)`: an unknown version (a
/// newer build migrated it), a failed one, or one whose checksum differs (another
/// build's) is refused, naming the schema version found and expected. Versions this
/// build knows and the database lacks are left to be applied.
pub fn check_applied(applied: &[(i64, Vec<u8>, bool)], known: &[(i64, &[u8])]) -> StoreResult<()> {
    let expected = known.iter().map(|(v, _)| *v).max().unwrap_or(0);
    let found = applied.iter().map(|(v, _, _)| *v).max().unwrap_or(0);
    for (version, checksum, success) in applied {
        let Some((_, known_checksum)) = known.iter().find(|(v, _)| v == version) else {
            return Err(StoreError::Backend(format!(
                "the database schema is at version {found} but this Driftless expects version \
                 {expected}: it was migrated by a newer Driftless (migration {version} is \
                 unknown here); run that version of Driftless, or restore a backup made \
                 before the upgrade"
            )));
        };
        if !success {
            return Err(StoreError::Backend(format!(
                "migration {version} failed part-way in this database (schema version \
                 found {found}, expected {expected}); restore a backup made before it"
            )));
        }
        if *known_checksum != checksum.as_slice() {
            return Err(StoreError::Backend(format!(
                "migration {version} applied to this database differs from this Driftless's \
                 migration {version} (schema version found {found}, expected {expected}); \
                 the database was migrated by a different build: use that build, or \
                 restore a backup"
            )));
        }
    }
    Ok(())
}
