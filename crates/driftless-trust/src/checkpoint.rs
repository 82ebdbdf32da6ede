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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use driftless_wire::keys::{generate_signing_key, key_id_of};
    use driftless_wire::root::RoleKeys;
    use driftless_wire::PublicKey;
    use ed25519_dalek::SigningKey;

    fn root_listing(key: &SigningKey) -> RootDocument {
        RootDocument {
            doc_type: "root".into(),
            version: 1,
            expires: i64::MAX,
            keys: [(key_id_of(key), PublicKey::from_signing_key(key))].into(),
            roles: Default::default(),
            registry_token_cert_sha256: None,
            checkpoint: Some(RoleKeys {
                keyids: vec![key_id_of(key)],
                threshold: 1,
            }),
        }
    }

    fn checkpoint(tree_size: u64, head: &str) -> AuditCheckpoint {
        AuditCheckpoint {
            doc_type: CHECKPOINT_DOC_TYPE.into(),
            tree_size,
            head: head.into(),
            at: 1,
        }
    }

    fn signed(cp: &AuditCheckpoint, key: &SigningKey) -> Envelope {
        let payload = serde_json::to_vec(cp).unwrap();
        Envelope::sign(AUDIT_CHECKPOINT_PAYLOAD_TYPE, &payload, &[key])
    }

    #[test]
    fn a_checkpoint_signed_by_the_listed_key_is_accepted() {
        let key = generate_signing_key();
        let cp = checkpoint(3, "ab");
        assert_eq!(
            verify_checkpoint(&signed(&cp, &key), &root_listing(&key)),
            Ok(cp)
        );
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_refused() {
        let root = root_listing(&generate_signing_key());
        let forged = signed(&checkpoint(3, "ab"), &generate_signing_key());
        assert!(matches!(
            verify_checkpoint(&forged, &root),
            Err(TrustError::Threshold { got: 0, .. })
        ));
    }

    #[test]
    fn a_root_without_a_checkpoint_role_accepts_no_checkpoint() {
        let key = generate_signing_key();
        let mut root = root_listing(&key);
        root.checkpoint = None;
        assert!(verify_checkpoint(&signed(&checkpoint(3, "ab"), &key), &root).is_err());
    }

    #[test]
    fn another_document_type_signed_by_the_key_is_refused() {
        let key = generate_signing_key();
        let env = Envelope::sign(driftless_wire::ROOT_PAYLOAD_TYPE, b"{}", &[&key]);
        assert!(matches!(
            verify_checkpoint(&env, &root_listing(&key)),
            Err(TrustError::Malformed { .. })
        ));
    }

    #[test]
    fn a_shorter_or_rewritten_log_is_not_an_extension() {
        let old = checkpoint(10, "aa");
        assert!(require_extension(&old, &checkpoint(12, "bb")).is_ok());
        assert!(require_extension(&old, &checkpoint(10, "aa")).is_ok());
        assert!(matches!(
            require_extension(&old, &checkpoint(9, "cc")),
            Err(TrustError::Rollback { .. })
        ));
        assert!(matches!(
            require_extension(&old, &checkpoint(10, "dd")),
            Err(TrustError::Mismatch { .. })
        ));
    }
}
