//! The audit log as the vendor API sees it: recording an operator's change, and
//! listing the log.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use driftless_store::{AuditEntry, AuditEvent};
use serde::Deserialize;

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
    };
    state.store.append_audit(&event).await?;
    Ok(())
}

/// Query of `GET /v1/audit`.
#[derive(Deserialize)]
pub struct AuditQuery {
    limit: Option<u32>,
}

/// `GET /v1/audit`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    require_operator(&state, &headers)?;
    Ok(Json(
        state
            .store
            .list_audit(q.limit.unwrap_or(100).min(10_000))
            .await?,
    ))
}
