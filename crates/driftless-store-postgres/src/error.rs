//! Turning sqlx errors and out-of-range integers into [`StoreError`]s.
//!
//! A lost connection, a refused one, a pool that waited too long for one and a server
//! shutting down are `Unavailable` (the server answers 503 and the client retries);
//! a unique violation is `Conflict`, a foreign-key violation `Missing`; anything else
//! is a backend error for the log.

use driftless_store::StoreError;

/// SQLSTATE classes and codes that mean "the database cannot serve this right now;
/// nothing was saved, try again".
fn is_unavailable_state(code: &str) -> bool {
    // 08: connection exception; 57P01..57P03: admin/crash shutdown, cannot connect now;
    // 53300: too many connections; 40001/40P01: the transaction lost a serialization
    // conflict or a deadlock and was rolled back. The store runs at READ COMMITTED with
    // one-statement conditional writes, so the last two should not occur; if a future
    // change makes them possible, the caller retries as for an outage.
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01"
        )
}

/// Whether the error means the database is unreachable rather than the statement wrong.
pub(crate) fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_unavailable_state(&code)),
        _ => false,
    }
}

/// Any database failure: `Unavailable` when the database cannot be reached, a backend
/// error (for the log) otherwise.
pub(crate) fn backend(err: sqlx::Error) -> StoreError {
    if is_unavailable(&err) {
        StoreError::Unavailable(err.to_string())
    } else if let Some(what) = foreign_key_target(&err) {
        StoreError::Missing { what }
    } else {
        StoreError::Backend(err.to_string())
    }
}

/// What a foreign-key violation says is missing (the constraint's name), if it is one.
fn foreign_key_target(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            Some(db.constraint().map_or_else(
                || "a referenced row".to_owned(),
                |c| format!("the row `{c}` refers to"),
            ))
        }
        _ => None,
    }
}

/// A unique-key violation becomes `Conflict { what }`; anything else as [`backend`].
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

/// A `u64` as a BIGINT; values past `i64::MAX` are refused, not wrapped.
pub(crate) fn to_db(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        StoreError::Backend(format!(
            "{what} {value} does not fit in a signed 64-bit column"
        ))
    })
}

/// An `Option<u64>` as an optional BIGINT.
pub(crate) fn opt_to_db(value: Option<u64>, what: &str) -> Result<Option<i64>, StoreError> {
    value.map(|v| to_db(v, what)).transpose()
}

/// A stored BIGINT back as `u64`; a negative value means the row is corrupt.
pub(crate) fn from_db(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("stored {what} {value} is negative")))
}

/// An optional stored BIGINT back as `Option<u64>`.
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
    fn connection_errors_are_unavailable() {
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(backend(refused), StoreError::Unavailable(_)));
        assert!(matches!(
            backend(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            backend(sqlx::Error::RowNotFound),
            StoreError::Backend(_)
        ));
        for code in ["08006", "08001", "57P01", "57P03"] {
            assert!(is_unavailable_state(code), "{code}");
        }
        assert!(!is_unavailable_state("23505"));
    }
}
