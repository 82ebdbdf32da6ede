//! Checks a signed audit-log checkpoint against a root document, and whether a newer
//! checkpoint extends an older one.

use driftless_wire::audit_checkpoint::{AuditCheckpoint, CHECKPOINT_DOC_TYPE};
use driftless_wire::root::{Role, RootDocument};
use driftless_wire::{Envelope, AUDIT_CHECKPOINT_PAYLOAD_TYPE};

use crate::error::TrustError;

/// What the errors call a checkpoint.
const WHAT: &str = "audit checkpoint";

/// The checkpoint in `env`: signed by a threshold of the checkpoint keys `root` lists.
pub fn verify_checkpoint(
    env: &Envelope,
    root: &RootDocument,
) -> Result<AuditCheckpoint, TrustError> {
    let cp: AuditCheckpoint = env
        .decode(AUDIT_CHECKPOINT_PAYLOAD_TYPE, WHAT)
        .map_err(|e| TrustError::Malformed {
            what: WHAT,
            reason: e.to_string(),
        })?;
    if cp.doc_type != CHECKPOINT_DOC_TYPE {
        return Err(TrustError::Mismatch {
            what: "audit checkpoint type",
            expected: CHECKPOINT_DOC_TYPE.into(),
            found: cp.doc_type,
        });
    }
    let (keys, threshold) = root.role_keys(Role::Checkpoint);
    let got = env.verified_keyids(&keys).len();
    if got < threshold as usize {
        return Err(TrustError::Threshold {
            what: WHAT,
            role: Role::Checkpoint.name(),
            got,
            need: threshold,
        });
    }
    Ok(cp)
}

/// Refuses `newer` unless it extends `older`: a log never shrinks, and at the same
/// size it has the same head (a witness's check that the log was not rewritten between
/// two checkpoints it saw; whether the entries between them chain is `audit verify`'s).
pub fn require_extension(
    older: &AuditCheckpoint,
    newer: &AuditCheckpoint,
) -> Result<(), TrustError> {
    if newer.tree_size < older.tree_size {
        return Err(TrustError::Rollback {
            what: WHAT,
            field: "tree size",
            got: newer.tree_size,
            highest: older.tree_size,
        });
    }
    if newer.tree_size == older.tree_size && newer.head != older.head {
        return Err(TrustError::Mismatch {
            what: "audit checkpoint head at the same tree size",
            expected: older.head.clone(),
            found: newer.head.clone(),
        });
    }
    Ok(())
}
