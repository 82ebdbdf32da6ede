//! Signed checkpoints of the audit log: the tree size and head hash, signed with the
//! checkpoint key the root lists. Written by every replica's upkeep when the log grew
//! (the store keeps one per tree size, so a fleet of replicas stores one), and on an
//! operator's request before saving one outside the database.

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
    Ok(state.store.latest_audit_checkpoint().await?)
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
