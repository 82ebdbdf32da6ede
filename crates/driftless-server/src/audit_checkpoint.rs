//! Signed checkpoints of the audit log: the tree size and head hash, signed with the
//! checkpoint key the root lists. Written by every replica's upkeep when the log grew
//! (the store keeps one per tree size, so a fleet of replicas stores one), and on an
//! operator's request before saving one outside the database. The newest one's tree
//! size is kept in memory for the check-in answers' header (see [`set_header`]), so
//! hosts witness the log without a database read per check-in.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use axum::response::Response;
use driftless_store::{StoreError, StoredCheckpoint};
use driftless_wire::audit_checkpoint::{AuditCheckpoint, CHECKPOINT_DOC_TYPE};
use driftless_wire::{Envelope, AUDIT_CHECKPOINT_PAYLOAD_TYPE};

use crate::state::AppState;

/// Why no checkpoint was signed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The entry the newest checkpoint names no longer has the hash it had.
    #[error("the audit log was rewritten: entry {tree_size} no longer has the hash checkpoint {tree_size} signed; refusing to sign over it (run `driftless-vendor audit verify`)")]
    Rewritten {
        /// The newest checkpoint's tree size.
        tree_size: u64,
    },
}

/// Signs and stores a checkpoint of the log's head when it moved past the newest
/// checkpoint; returns the newest checkpoint afterwards (`None`: no key, or no entry).
pub async fn sign_if_grown(state: &AppState) -> Result<Option<StoredCheckpoint>, CheckpointError> {
    let Some(key) = state.keys().checkpoint.clone() else {
        return Ok(None);
    };
    let latest = state.store.latest_audit_checkpoint().await?;
    remember(state, latest.as_ref());
    let Some(head) = state.store.list_audit(1).await?.into_iter().next() else {
        return Ok(latest);
    };
    if let Some(cp) = &latest {
        require_unchanged(state, cp).await?;
        if cp.tree_size >= head.seq {
            return Ok(latest);
        }
    }
    let doc = AuditCheckpoint {
        doc_type: CHECKPOINT_DOC_TYPE.into(),
        tree_size: head.seq,
        head: head.hash,
        at: crate::now(),
    };
    // A struct of strings and integers always serialises.
    let payload = serde_json::to_vec(&doc).unwrap_or_default();
    let env = Envelope::sign(AUDIT_CHECKPOINT_PAYLOAD_TYPE, &payload, &[&key]);
    let text = serde_json::to_string(&env).unwrap_or_default();
    if state
        .store
        .save_audit_checkpoint(doc.tree_size, &text)
        .await?
    {
        tracing::info!(tree_size = doc.tree_size, "audit checkpoint signed");
    }
    let latest = state.store.latest_audit_checkpoint().await?;
    remember(state, latest.as_ref());
    Ok(latest)
}

/// Keeps the tree size of `latest` for the check-in answers (a store whose
/// checkpoints were deleted is remembered as having none). Each host fetches the
/// checkpoint the answers name once, so a new one is named at most once per
/// `witness_interval_s`: on a fleet whose log grows all the time, a host would
/// otherwise fetch one on nearly every check-in.
fn remember(state: &AppState, latest: Option<&StoredCheckpoint>) {
    let size = latest.map_or(0, |cp| cp.tree_size);
    let named = &state.hot.audit_checkpoint_size;
    let current = named.load(Ordering::Relaxed);
    if size == current {
        return;
    }
    let interval = Duration::from_secs(state.config.witness_interval_s);
    let Ok(mut named_at) = state.hot.audit_checkpoint_named_at.lock() else {
        return;
    };
    let due = current == 0 || named_at.is_none_or(|at| at.elapsed() >= interval);
    if due {
        named.store(size, Ordering::Relaxed);
        *named_at = Some(Instant::now());
    }
}

/// Puts the newest checkpoint's tree size on a check-in answer, from memory.
pub fn set_header(state: &AppState, resp: &mut Response) {
    let size = state.hot.audit_checkpoint_size.load(Ordering::Relaxed);
    if size > 0 {
        resp.headers_mut().insert(
            driftless_wire::checkin::AUDIT_CHECKPOINT_HEADER,
            HeaderValue::from(size),
        );
    }
}

/// Refuses to sign when the entry `cp` covers no longer has the hash it signed.
async fn require_unchanged(state: &AppState, cp: &StoredCheckpoint) -> Result<(), CheckpointError> {
    let signed: Option<AuditCheckpoint> = serde_json::from_str::<Envelope>(&cp.envelope)
        .ok()
        .and_then(|env| {
            env.decode(AUDIT_CHECKPOINT_PAYLOAD_TYPE, "audit checkpoint")
                .ok()
        });
    let page = state
        .store
        .list_audit_page(Some(cp.tree_size.saturating_add(1)), 1)
        .await?;
    let now_there = page.items.first().filter(|e| e.seq == cp.tree_size);
    match (signed, now_there) {
        (Some(doc), Some(entry)) if doc.head == entry.hash => Ok(()),
        _ => Err(CheckpointError::Rewritten {
            tree_size: cp.tree_size,
        }),
    }
}
