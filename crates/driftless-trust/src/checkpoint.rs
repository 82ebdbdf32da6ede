//! Checks a signed audit-log checkpoint against a root document (or any version of the
//! root chain, for checkpoints older than the newest key), and whether a newer
//! checkpoint extends an older one a witness saw.

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

/// The checkpoint in `env`, signed by the checkpoint keys of any version in `roots` (a
/// verified root chain, oldest first): a checkpoint signed before two rotations of the
/// checkpoint key names a key only an older root lists. The error is the newest root's.
pub fn verify_checkpoint_by_any(
    env: &Envelope,
    roots: &[RootDocument],
) -> Result<AuditCheckpoint, TrustError> {
    let mut newest_err = TrustError::Malformed {
        what: WHAT,
        reason: "no root document to verify it with".into(),
    };
    for (i, root) in roots.iter().enumerate().rev() {
        match verify_checkpoint(env, root) {
            Ok(cp) => return Ok(cp),
            Err(e) if i + 1 == roots.len() => newest_err = e,
            Err(_) => {}
        }
    }
    Err(newest_err)
}

/// A witness's rule: refuses `newest` unless it extends `last`, the checkpoint the host
/// saw last. A hash chain has no proof of extension short of its entries (which are
/// the vendor's business, not the host's), so the control plane states the hash its log
/// holds now at entry `last.tree_size` (`hash_at_last`; `None` when it holds no such
/// entry): a log that grew past `last` must still have `last.head` there.
pub fn require_witnessed_extension(
    last: &AuditCheckpoint,
    newest: &AuditCheckpoint,
    hash_at_last: Option<&str>,
) -> Result<(), TrustError> {
    require_extension(last, newest)?;
    if newest.tree_size == last.tree_size || hash_at_last == Some(last.head.as_str()) {
        return Ok(());
    }
    Err(TrustError::AuditLogForked {
        tree_size: last.tree_size,
        signed: last.head.clone(),
        found: hash_at_last.map(Into::into),
    })
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
    fn a_checkpoint_signed_by_a_key_only_an_older_root_lists_verifies_against_the_chain() {
        let (oldest, middle, newest) = (
            generate_signing_key(),
            generate_signing_key(),
            generate_signing_key(),
        );
        // Two rotations: each root lists its key and the one before it.
        let mut v2 = root_listing(&middle);
        v2.keys
            .insert(key_id_of(&oldest), PublicKey::from_signing_key(&oldest));
        v2.checkpoint
            .as_mut()
            .unwrap()
            .keyids
            .push(key_id_of(&oldest));
        let mut v3 = root_listing(&newest);
        v3.keys
            .insert(key_id_of(&middle), PublicKey::from_signing_key(&middle));
        v3.checkpoint
            .as_mut()
            .unwrap()
            .keyids
            .push(key_id_of(&middle));
        let chain = [root_listing(&oldest), v2, v3.clone()];
        let old = signed(&checkpoint(3, "ab"), &oldest);
        assert!(
            verify_checkpoint(&old, &v3).is_err(),
            "the newest root alone"
        );
        assert_eq!(
            verify_checkpoint_by_any(&old, &chain),
            Ok(checkpoint(3, "ab"))
        );
        let forged = signed(&checkpoint(3, "ab"), &generate_signing_key());
        assert!(matches!(
            verify_checkpoint_by_any(&forged, &chain),
            Err(TrustError::Threshold { got: 0, .. })
        ));
    }

    #[test]
    fn a_witness_accepts_a_grown_log_that_still_holds_its_head() {
        let last = checkpoint(10, "aa");
        assert_eq!(
            require_witnessed_extension(&last, &checkpoint(12, "bb"), Some("aa")),
            Ok(())
        );
        // The same checkpoint again needs no statement.
        assert_eq!(
            require_witnessed_extension(&last, &checkpoint(10, "aa"), None),
            Ok(())
        );
    }

    #[test]
    fn a_witness_refuses_a_log_rewritten_or_truncated_under_its_head() {
        let last = checkpoint(10, "aa");
        assert_eq!(
            require_witnessed_extension(&last, &checkpoint(14, "bb"), Some("cc")),
            Err(TrustError::AuditLogForked {
                tree_size: 10,
                signed: "aa".into(),
                found: Some("cc".into()),
            })
        );
        let truncated = require_witnessed_extension(&last, &checkpoint(14, "bb"), None);
        assert!(
            matches!(
                truncated,
                Err(TrustError::AuditLogForked { found: None, .. })
            ),
            "{truncated:?}"
        );
        assert!(matches!(
            require_witnessed_extension(&last, &checkpoint(9, "aa"), Some("aa")),
            Err(TrustError::Rollback { .. })
        ));
        assert!(matches!(
            require_witnessed_extension(&last, &checkpoint(10, "dd"), Some("aa")),
            Err(TrustError::Mismatch { .. })
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
