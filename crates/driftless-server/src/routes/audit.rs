//! The audit log as the vendor API sees it: making a change with its entry (one
//! transaction: both or neither), recording an audited action that changes nothing
//! stored, listing the log (newest first, or oldest first from a sequence number for
//! verification and export), and its signed checkpoints.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use driftless_store::{Applied, AuditEntry, AuditEvent, AuditedChange, StoredCheckpoint};
use serde::Deserialize;

use super::page_cursor;
use crate::error::ApiError;
use crate::now;
use crate::state::AppState;

/// Makes `change` and records it as the principal's `action` on `subject`, in one
/// transaction: both are stored or neither. `Absent` and `NoSeat` (nothing stored, no
/// entry) come back for the handler to answer; `subject` and `detail` may name the id
/// the database assigns ([`driftless_store::ASSIGNED_ID`]).
pub(crate) async fn apply(
    state: &AppState,
    change: AuditedChange,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<Applied, ApiError> {
    apply_after(state, None, change, action, subject, detail).await
}

/// [`apply`], with `first` (an entry the same request decided on before the change,
/// e.g. a gate override) appended before the change's own, in the same transaction.
pub(crate) async fn apply_after(
    state: &AppState,
    first: Option<AuditEvent>,
    change: AuditedChange,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<Applied, ApiError> {
    let own = principal_event(action, subject, detail);
    let events: Vec<AuditEvent> = first.into_iter().chain([own]).collect();
    Ok(state.store.apply_audited(&change, &events).await?)
}

/// [`apply`] for a change `actor` makes that is not the request's principal: an
/// install acting for itself (`install:<id>`).
pub(crate) async fn apply_by(
    state: &AppState,
    actor: String,
    change: AuditedChange,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<Applied, ApiError> {
    let event = event(actor, action, subject, detail);
    Ok(state.store.apply_audited(&change, &[event]).await?)
}

/// Appends an entry for an audited action of the principal that changes nothing the
/// store keeps (a token or a signed assignment handed out, a download): there is no
/// change to couple it with. A change goes through [`apply`].
pub(crate) async fn record(
    state: &AppState,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    state
        .store
        .append_audit(&principal_event(action, subject, detail))
        .await?;
    Ok(())
}

/// The entry for the principal's `action` on `subject`, now, with the request's id.
pub(crate) fn principal_event(
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> AuditEvent {
    event(crate::access::current_actor(), action, subject, detail)
}

/// The entry for `actor`'s `action` on `subject`, now, with the request's id.
fn event(actor: String, action: &str, subject: &str, detail: serde_json::Value) -> AuditEvent {
    AuditEvent {
        at: now(),
        actor,
        action: action.into(),
        subject: subject.into(),
        detail: detail.to_string(),
        request_id: crate::request_context::current_request_id(),
    }
}

/// Query of `GET /v1/audit`.
#[derive(Deserialize)]
pub struct AuditQuery {
    /// Entries per page (default 100, at most 10000).
    limit: Option<u32>,
    /// Where the page starts: the previous page's `Driftless-Next-Cursor`.
    cursor: Option<String>,
    /// Oldest first instead: the entries numbered `after + 1` to `after + limit`.
    after: Option<u64>,
}

/// Entries per page when the request names no limit.
const DEFAULT_LIMIT: u32 = 100;

/// `GET /v1/audit[?limit=N][&cursor=C]`: one page of the log, newest first, as a JSON
/// array; `Driftless-Next-Cursor` names the page of older entries when there is one.
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<(HeaderMap, Json<Vec<AuditEntry>>), ApiError> {
    let limit = page_cursor::limit(q.limit, DEFAULT_LIMIT);
    if let Some(after) = q.after {
        return Ok((
            HeaderMap::new(),
            Json(oldest_first(&state, after, limit).await?),
        ));
    }
    let before = q
        .cursor
        .as_deref()
        .map(page_cursor::decode_audit)
        .transpose()?;
    let page = state.store.list_audit_page(before, limit).await?;
    let next = page.next.map(page_cursor::encode_audit);
    Ok((page_cursor::next_headers(next), Json(page.items)))
}

/// The entries numbered `after + 1` to `after + limit`, oldest first. Ranges of
/// sequence numbers tile the log, so a reader that walks them misses no entry, even
/// where entries are missing (which is what `audit verify` looks for).
async fn oldest_first(
    state: &AppState,
    after: u64,
    limit: u32,
) -> Result<Vec<AuditEntry>, ApiError> {
    let before = after.saturating_add(u64::from(limit)).saturating_add(1);
    let page = state.store.list_audit_page(Some(before), limit).await?;
    let mut items: Vec<AuditEntry> = page.items.into_iter().filter(|e| e.seq > after).collect();
    items.reverse();
    Ok(items)
}

/// `GET /v1/audit/checkpoint`: the newest signed checkpoint of the log, the envelope
/// exactly as signed.
pub async fn checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    envelope_answer(state.store.latest_audit_checkpoint().await?)
}

/// `POST /v1/audit/checkpoint`: signs a checkpoint of the log's head now when the
/// newest one is older, and answers the newest (for an operator about to keep one
/// outside the database).
pub async fn sign_checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    let newest = crate::audit_checkpoint::sign_if_grown(&state)
        .await
        .map_err(|e| match e {
            crate::audit_checkpoint::CheckpointError::Store(e) => ApiError::from(e),
            e @ crate::audit_checkpoint::CheckpointError::Rewritten { .. } => ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "audit_log_rewritten",
                e.to_string(),
            ),
        })?;
    envelope_answer(newest)
}

/// The stored envelope's bytes as the answer, or a 404 that says why there is none.
fn envelope_answer(cp: Option<StoredCheckpoint>) -> Result<Response, ApiError> {
    let Some(cp) = cp else {
        return Err(ApiError::not_found(
            "no_audit_checkpoint",
            "no audit checkpoint is signed yet",
        )
        .with_hint("the root must list a checkpoint key (`driftless-vendor keys rotate checkpoint` adds one) and the log must hold an entry"));
    };
    let mut response = cp.envelope.into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
