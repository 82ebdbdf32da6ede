//! The audit page: the log, newest first, filtered by actor, action or subject
//! (a substring of each), a page at a time.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::page::{render, Chrome, PageError};
use super::session::Operator;
use super::time_format::when;
use crate::state::AppState;

/// The audit page.
pub(crate) const PATH: &str = "/dashboard/audit";
/// Entries shown on a page.
const SHOWN: usize = 100;
/// Entries read from the log per round while filtering.
const READ: u32 = 500;
/// Entries looked at per page at most, so a filter that matches nothing stays cheap.
const SCAN: usize = 5_000;

/// The filter, from the query string.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditFilter {
    #[serde(default)]
    pub(crate) actor: String,
    #[serde(default)]
    pub(crate) action: String,
    #[serde(default)]
    pub(crate) subject: String,
    /// Show entries below this `seq`.
    pub(crate) before: Option<u64>,
}

pub(crate) struct AuditRow {
    pub(crate) seq: u64,
    pub(crate) at: String,
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) subject: String,
    pub(crate) detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub(crate) struct AuditPage {
    pub(crate) chrome: Chrome,
    pub(crate) filter: AuditFilter,
    pub(crate) entries: Vec<AuditRow>,
    /// Where the next page starts.
    pub(crate) older: Option<u64>,
}

/// `GET /dashboard/audit?actor=&action=&subject=&before=`.
pub(crate) async fn page(
    State(state): State<AppState>,
    operator: Operator,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, PageError> {
    render(&audit_page(&state, filter, operator.csrf).await?)
}

impl AuditFilter {
    fn keeps(&self, e: &driftless_store::AuditEvent) -> bool {
        e.actor.contains(self.actor.trim())
            && e.action.contains(self.action.trim())
            && e.subject.contains(self.subject.trim())
    }
}

/// The page's data.
pub(crate) async fn audit_page(
    state: &AppState,
    filter: AuditFilter,
    csrf: String,
) -> Result<AuditPage, PageError> {
    let mut entries = Vec::new();
    let mut before = filter.before;
    let mut scanned = 0;
    let older = loop {
        let page = state.store.list_audit_page(before, READ).await?;
        scanned += page.items.len();
        for e in page.items {
            if entries.len() == SHOWN {
                break;
            }
            before = Some(e.seq);
            if filter.keeps(&e.event) {
                entries.push(AuditRow {
                    seq: e.seq,
                    at: when(e.event.at),
                    actor: e.event.actor,
                    action: e.event.action,
                    subject: e.event.subject,
                    detail: e.event.detail,
                });
            }
        }
        if entries.len() == SHOWN || (scanned >= SCAN && page.next.is_some()) {
            break before;
        }
        if page.next.is_none() {
            break None;
        }
    };
    Ok(AuditPage {
        chrome: Chrome {
            csrf,
            active: "audit",
        },
        filter,
        entries,
        older,
    })
}
