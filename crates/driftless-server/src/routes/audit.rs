//! The audit log as the vendor API sees it: recording an operator's change, and
//! listing the log.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use driftless_store::{AuditEntry, AuditEvent};
use serde::Deserialize;

use super::page_cursor;
use crate::auth::require_operator;
use crate::error::ApiError;
use crate::now;
use crate::state::AppState;

/// Appends an entry for a change the operator made: `action` on `subject`.
pub(crate) async fn record(
    state: &AppState,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let event = AuditEvent {
        at: now(),
        actor: "operator".into(),
        action: action.into(),
        subject: subject.into(),
        detail: detail.to_string(),
        request_id: crate::request_context::current_request_id(),
    };
    state.store.append_audit(&event).await?;
    Ok(())
}

/// Query of `GET /v1/audit`.
#[derive(Deserialize)]
pub struct AuditQuery {
    /// Entries per page (default 100, at most 10000).
    limit: Option<u32>,
    /// Where the page starts: the previous page's `Driftless-Next-Cursor`.
    cursor: Option<String>,
}

/// Entries per page when the request names no limit.
const DEFAULT_LIMIT: u32 = 100;

/// `GET /v1/audit[?limit=N][&cursor=C]`: one page of the log, newest first, as a JSON
/// array; `Driftless-Next-Cursor` names the page of older entries when there is one.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<(HeaderMap, Json<Vec<AuditEntry>>), ApiError> {
    require_operator(&state, &headers)?;
    let before = q
        .cursor
        .as_deref()
        .map(page_cursor::decode_audit)
        .transpose()?;
    let limit = page_cursor::limit(q.limit, DEFAULT_LIMIT);
    let page = state.store.list_audit_page(before, limit).await?;
    let next = page.next.map(page_cursor::encode_audit);
    Ok((page_cursor::next_headers(next), Json(page.items)))
}
