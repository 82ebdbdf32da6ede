//! API errors: a status code and a small JSON body; the internal cause goes to the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use driftless_store::StoreError;
use driftless_wire::api::ErrorBody;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code.
    pub code: &'static str,
    /// One line for a person: what failed, about what.
    pub message: String,
    /// What to do about it, sent as its own field.
    pub hint: Option<String>,
    /// Seconds the client should wait before retrying, sent as `Retry-After`.
    pub retry_after: Option<u32>,
}

/// How long a client waits before retrying when the database is unavailable: long
/// enough for a database restart or failover, short enough not to be noticed.
pub const DATABASE_RETRY_AFTER_S: u32 = 5;

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: None,
            retry_after: None,
        }
    }

    /// The same error, telling the caller what to do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404 with a specific code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 401: missing or wrong credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 with a specific code.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 409 with a specific code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 503 with `Retry-After`: the database cannot be reached right now. The cause is
    /// logged here and never sent.
    pub fn database_unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "database unavailable");
        ApiError {
            retry_after: Some(DATABASE_RETRY_AFTER_S),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the control plane's database is unavailable; nothing was changed",
            )
            .with_hint(format!(
                "retry in {DATABASE_RETRY_AFTER_S} seconds; the control plane reconnects by itself"
            ))
        }
    }

    /// 500: the cause is logged here and never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
        .with_hint("the control plane's log has the cause")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { what } => {
                ApiError::conflict("conflict", format!("{what} already exists"))
            }
            StoreError::Missing { what } => {
                ApiError::not_found("not_found", format!("{what} does not exist"))
            }
            StoreError::Stale { what } => ApiError::conflict(
                "changed",
                format!("{what} changed while this request was handled; nothing was changed"),
            )
            .with_hint("read it again and repeat the request if it still applies"),
            StoreError::Unavailable(cause) => ApiError::database_unavailable(cause),
            StoreError::Backend(cause) => ApiError::internal(cause),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_string(),
            message: self.message,
            hint: self.hint,
        };
        let mut response = (self.status, Json(body)).into_response();
        response
            .extensions_mut()
            .insert(crate::metrics::ErrorCode(self.code));
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_database_is_503_with_retry_after() {
        let response =
            ApiError::from(StoreError::Unavailable("connection refused".into())).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }

    #[test]
    fn other_errors_carry_no_retry_after() {
        let response = ApiError::from(StoreError::Backend("boom".into())).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }
}
