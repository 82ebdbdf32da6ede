//! Status receipts: what an air-gapped host runs, signed by the host's own key and
//! chained to its previous receipt, carried back to the vendor by hand.

use base64::Engine as _;
use driftless_wire::{Digest, Envelope, PublicKey};
use serde::{Deserialize, Serialize};

/// Payload type of a signed status receipt.
pub const RECEIPT_PAYLOAD_TYPE: &str = "application/vnd.driftless.receipt+json";

/// One status receipt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// Always `receipt`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The install (for a bundle install: its license's install id).
    pub install_id: String,
    /// The app.
    pub app: String,
    /// The host key that signs every receipt of this install.
    pub public_key: PublicKey,
    /// 1 for the first receipt, then one more each time.
    pub sequence: u64,
    /// Digest of the previous receipt's payload (none for the first).
    pub previous: Option<Digest>,
    /// Unix seconds.
    pub issued_at: i64,
    /// What `driftless status --json` says: versions, digests, health, reason, policy.
    pub status: serde_json::Value,
}

/// Why a receipt was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// Not a receipt, or not readable.
    #[error("not a status receipt: {0}")]
    Malformed(String),
    /// The host key's signature is missing or does not verify.
    #[error("the receipt of install {0} is not signed by the key it names")]
    Signature(String),
    /// It does not follow the previous receipt.
    #[error("the receipt does not follow the previous one: {0}")]
    Chain(String),
}

/// Signs `receipt` with the host key.
pub fn sign_receipt(receipt: &Receipt, key: &ed25519_dalek::SigningKey) -> Envelope {
    // A struct of strings, integers and a JSON value always serialises.
    let payload = serde_json::to_vec(receipt).unwrap_or_default();
    Envelope::sign(RECEIPT_PAYLOAD_TYPE, &payload, &[key])
}

/// Verifies `env`: signed by the key it names, and, when `previous` is given, the
/// next receipt of the same install and key after it.
pub fn verify_receipt(
    env: &Envelope,
    previous: Option<&Envelope>,
) -> Result<Receipt, ReceiptError> {
    let r = signed(env)?;
    let Some(prev_env) = previous else {
        return Ok(r);
    };
    let prev = signed(prev_env)?;
    if prev.install_id != r.install_id || prev.public_key != r.public_key {
        return Err(ReceiptError::Chain("another install or host key".into()));
    }
    let prev_digest = Digest::of(
        &prev_env
            .payload_bytes()
            .map_err(|e| ReceiptError::Malformed(e.to_string()))?,
    );
    if r.sequence != prev.sequence + 1 || r.previous.as_ref() != Some(&prev_digest) {
        return Err(ReceiptError::Chain(format!(
            "receipt {} does not name receipt {} ({prev_digest}) as its previous",
            r.sequence, prev.sequence
        )));
    }
    Ok(r)
}

fn signed(env: &Envelope) -> Result<Receipt, ReceiptError> {
    let r: Receipt = env
        .decode(RECEIPT_PAYLOAD_TYPE, "status receipt")
        .map_err(|e| ReceiptError::Malformed(e.to_string()))?;
    let input = env
        .signing_input()
        .map_err(|e| ReceiptError::Malformed(e.to_string()))?;
    let keyid = r.public_key.key_id();
    let ok = env.signatures.iter().any(|s| {
        s.keyid == keyid
            && base64::engine::general_purpose::STANDARD
                .decode(&s.sig)
                .is_ok_and(|sig| r.public_key.verify(&input, &sig))
    });
    if !ok {
        return Err(ReceiptError::Signature(r.install_id));
    }
    Ok(r)
}
