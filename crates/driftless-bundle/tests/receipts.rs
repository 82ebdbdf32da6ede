//! Status receipts: a chain of receipts verifies; a forged signature, a receipt signed
//! by another key than it names, and a broken chain are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use driftless_bundle::{sign_receipt, verify_receipt, Receipt, ReceiptError};
use driftless_wire::keys::generate_signing_key;
use driftless_wire::{Digest, PublicKey};

fn receipt(key: &ed25519_dalek::SigningKey, sequence: u64, previous: Option<Digest>) -> Receipt {
    Receipt {
        doc_type: "receipt".into(),
        install_id: "license-abc".into(),
        app: "acme".into(),
        public_key: PublicKey::from_signing_key(key),
        sequence,
        previous,
        issued_at: 1_800_000_000,
        status: serde_json::json!({"current_version": "1.0.0", "status": "converged"}),
    }
}

#[test]
fn a_chain_of_receipts_verifies() {
    let key = generate_signing_key();
    let first = sign_receipt(&receipt(&key, 1, None), &key);
    let digest = Digest::of(&first.payload_bytes().unwrap());
    let second = sign_receipt(&receipt(&key, 2, Some(digest)), &key);
    assert_eq!(verify_receipt(&first, None).unwrap().sequence, 1);
    assert_eq!(verify_receipt(&second, Some(&first)).unwrap().sequence, 2);
}

#[test]
fn a_receipt_signed_by_another_key_than_it_names_is_refused() {
    let key = generate_signing_key();
    let thief = generate_signing_key();
    let forged = sign_receipt(&receipt(&key, 1, None), &thief);
    assert!(matches!(
        verify_receipt(&forged, None),
        Err(ReceiptError::Signature(_))
    ));
}

#[test]
fn a_changed_receipt_is_refused() {
    let key = generate_signing_key();
    let mut env = sign_receipt(&receipt(&key, 1, None), &key);
    let mut changed = receipt(&key, 1, None);
    changed.status = serde_json::json!({"current_version": "9.9.9"});
    env.payload = sign_receipt(&changed, &generate_signing_key()).payload;
    assert!(matches!(
        verify_receipt(&env, None),
        Err(ReceiptError::Signature(_))
    ));
}

#[test]
fn a_receipt_that_skips_or_forks_the_chain_is_refused() {
    let key = generate_signing_key();
    let first = sign_receipt(&receipt(&key, 1, None), &key);
    let digest = Digest::of(&first.payload_bytes().unwrap());
    let skipped = sign_receipt(&receipt(&key, 3, Some(digest)), &key);
    assert!(matches!(
        verify_receipt(&skipped, Some(&first)),
        Err(ReceiptError::Chain(_))
    ));
    let forked = sign_receipt(&receipt(&key, 2, Some(Digest::of(b"other"))), &key);
    assert!(matches!(
        verify_receipt(&forked, Some(&first)),
        Err(ReceiptError::Chain(_))
    ));
    let other_key = generate_signing_key();
    let stranger = sign_receipt(
        &receipt(
            &other_key,
            2,
            Some(Digest::of(&first.payload_bytes().unwrap())),
        ),
        &other_key,
    );
    assert!(matches!(
        verify_receipt(&stranger, Some(&first)),
        Err(ReceiptError::Chain(_))
    ));
}
