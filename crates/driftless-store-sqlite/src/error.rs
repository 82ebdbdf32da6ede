//! Turning sqlx errors and out-of-range integers into [`StoreError`]s.

use driftless_store::StoreError;

/// Any database failure: `Unavailable` when the database cannot be used right now (no
/// connection free in time, the file locked past the busy timeout, an I/O failure), a
/// backend error (for the log) otherwise.
pub(crate) fn backend(err: sqlx::Error) -> StoreError {
    if is_unavailable(&err) {
        StoreError::Unavailable(err.to_string())
    } else {
        StoreError::Backend(err.to_string())
    }
}

/// Whether the error means "try again later" rather than "this statement is wrong".
pub(crate) fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // SQLITE_BUSY and SQLITE_LOCKED, with their extended codes.
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
        _ => false,
    }
}

/// A unique-key violation becomes `Conflict { what }`; anything else is a backend error.
pub(crate) fn conflict_or_backend(err: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::Conflict { what: what() }
    } else {
        backend(err)
    }
}

/// Whether the error is a primary-key or unique-index violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A `u64` as SQLite's signed INTEGER; values past `i64::MAX` are refused, not wrapped.
pub(crate) fn to_db(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        StoreError::Backend(format!(
            "{what} {value} does not fit in a signed 64-bit column"
        ))
    })
}

/// An `Option<u64>` as an optional INTEGER.
pub(crate) fn opt_to_db(value: Option<u64>, what: &str) -> Result<Option<i64>, StoreError> {
    value.map(|v| to_db(v, what)).transpose()
}

/// A stored INTEGER back as `u64`; a negative value means the row is corrupt.
pub(crate) fn from_db(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("stored {what} {value} is negative")))
}

/// An optional stored INTEGER back as `Option<u64>`.
pub(crate) fn opt_from_db(value: Option<i64>, what: &str) -> Result<Option<u64>, StoreError> {
    value.map(|v| from_db(v, what)).transpose()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn u64_past_i64_max_is_refused_not_wrapped() {
        assert!(matches!(
            to_db(u64::MAX, "release counter"),
            Err(StoreError::Backend(_))
        ));
        assert_eq!(
            to_db(i64::MAX as u64, "release counter").ok(),
            Some(i64::MAX)
        );
    }

    #[test]
    fn pool_and_io_failures_are_unavailable() {
        assert!(matches!(
            backend(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(matches!(backend(io), StoreError::Unavailable(_)));
        assert!(matches!(
            backend(sqlx::Error::RowNotFound),
            StoreError::Backend(_)
        ));
    }

    #[test]
    fn negative_stored_value_is_corrupt() {
        assert!(matches!(
            from_db(-1, "release counter"),
            Err(StoreError::Backend(_))
        ));
        assert_eq!(from_db(7, "release counter").ok(), Some(7));
    }
}
