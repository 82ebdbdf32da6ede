//! What every page shares: the error page, rendering a template, and the session's
//! facts the layout shows (the CSRF token of the logout form).

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use driftless_store::StoreError;

use crate::error::ApiError;

/// A page that could not be shown: an HTML answer with the error's status and message
/// (the cause of a 500 is logged by [`ApiError::internal`], never shown).
#[derive(Debug)]
pub(crate) struct PageError(pub(crate) ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError(ApiError::from(e))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    message: &'a str,
    hint: Option<&'a str>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let page = ErrorPage {
            status: e.status.as_u16(),
            message: &e.message,
            hint: e.hint.as_deref(),
        };
        let html = match page.render() {
            Ok(html) => html,
            Err(_) => return e.into_response(),
        };
        let mut response = (e.status, Html(html)).into_response();
        if let Some(seconds) = e.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Renders `template`, or a 500 whose cause is logged.
pub(crate) fn render(template: &impl Template) -> Result<Response, PageError> {
    let html = template
        .render()
        .map_err(|e| ApiError::internal(format!("cannot render a dashboard page: {e}")))?;
    Ok((StatusCode::OK, Html(html)).into_response())
}

/// What the layout needs of the signed-in operator: the CSRF token its forms carry.
pub(crate) struct Chrome {
    /// The session's CSRF token.
    pub(crate) csrf: String,
    /// Which page of the navigation is this one.
    pub(crate) active: &'static str,
}
