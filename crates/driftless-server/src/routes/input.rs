//! Checks on what a request carries: its JSON body, and the names it introduces.

use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses a JSON body, answering 400 with what was wrong.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed {what}: {e}")))
}

/// Checks a lowercase name usable as a registry path component (apps, channels).
pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && driftless_registry_token::valid_repository_name(name)
        && !name.contains('/');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid {kind} name `{name}`: use lowercase letters and digits, with single '.', '_' or '-' between them"
        )))
    }
}
