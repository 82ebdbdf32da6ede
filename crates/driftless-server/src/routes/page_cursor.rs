//! Opaque page cursors: what a list answers in `Driftless-Next-Cursor` and takes back as
//! `?cursor=`. Base64url of the store's position, so clients treat it as a token and the
//! store's order can change without changing the API.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use driftless_store::InstallCursor;

use crate::error::ApiError;

/// The response header naming the next page's cursor; absent on the last page.
pub const NEXT_CURSOR: HeaderName = HeaderName::from_static("driftless-next-cursor");

/// Page size when a list request names none.
pub const DEFAULT_LIMIT: u32 = 1_000;
/// The largest page a list request may ask for.
pub const MAX_LIMIT: u32 = 10_000;

/// The page size asked for, within `1..=MAX_LIMIT`.
pub fn limit(asked: Option<u32>, default: u32) -> u32 {
    asked.unwrap_or(default).clamp(1, MAX_LIMIT)
}

/// Headers carrying `next` as the next page's cursor, if there is a next page.
pub fn next_headers(next: Option<String>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    // Base64url is always a valid header value.
    if let Some(value) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        headers.insert(NEXT_CURSOR, value);
    }
    headers
}

fn invalid(list: &str) -> ApiError {
    ApiError::bad_request(format!(
        "the {list} cursor is not one this server handed out"
    ))
    .with_hint(
        "pass the Driftless-Next-Cursor of the previous page unchanged, or no cursor to start over",
    )
}

fn decode_text(cursor: &str, list: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| invalid(list))
}

/// The cursor after a fleet position.
pub fn encode_install(cursor: &InstallCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", cursor.created_at, cursor.id))
}

/// The fleet position a cursor names.
pub fn decode_install(cursor: &str) -> Result<InstallCursor, ApiError> {
    let text = decode_text(cursor, "fleet")?;
    let (created_at, id) = text.split_once(':').ok_or_else(|| invalid("fleet"))?;
    let created_at = created_at.parse().map_err(|_| invalid("fleet"))?;
    if id.is_empty() {
        return Err(invalid("fleet"));
    }
    Ok(InstallCursor {
        created_at,
        id: id.to_string(),
    })
}

/// The cursor continuing the audit log below `seq`.
pub fn encode_audit(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

/// The audit sequence a cursor continues below.
pub fn decode_audit(cursor: &str) -> Result<u64, ApiError> {
    decode_text(cursor, "audit")?
        .strip_prefix("seq:")
        .and_then(|seq| seq.parse().ok())
        .ok_or_else(|| invalid("audit"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = InstallCursor {
            created_at: 1_700_000_000,
            id: "a:b-c".into(),
        };
        assert_eq!(decode_install(&encode_install(&c)).unwrap(), c);
        assert_eq!(decode_audit(&encode_audit(42)).unwrap(), 42);
    }

    #[test]
    fn foreign_cursors_are_bad_requests() {
        for bad in ["", "!!", &URL_SAFE_NO_PAD.encode("x:1"), &encode_audit(3)] {
            let err = decode_install(bad).unwrap_err();
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
        let err = decode_audit(&URL_SAFE_NO_PAD.encode("seq:-1")).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
    }
}
