//! DSSE-style signed envelopes: `{payloadType, payload, signatures}` with signatures
//! over the pre-authentication encoding (PAE) of the type and the exact payload bytes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Serialize};

use crate::keys::{key_id_of, KeyId, PublicKey};

/// A signed envelope as sent on the wire and stored on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// What the payload is, e.g. [`crate::RELEASE_PAYLOAD_TYPE`].
    pub payload_type: String,
    /// Base64 (standard, padded) of the payload bytes.
    pub payload: String,
    /// One entry per signing key.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature in an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Which key signed.
    pub keyid: KeyId,
    /// Base64 of the 64-byte Ed25519 signature.
    pub sig: String,
}

/// Why an envelope could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The payload is not valid base64.
    #[error("envelope payload is not valid base64")]
    PayloadEncoding,
    /// The payload type differs from the one expected.
    #[error("envelope carries `{found}`, expected `{expected}`")]
    WrongType {
        /// The type the caller expected.
        expected: String,
        /// The type found.
        found: String,
    },
    /// The payload is not the JSON document expected.
    #[error("envelope payload is not a valid {what}: {reason}")]
    Payload {
        /// The document kind.
        what: &'static str,
        /// The parse error.
        reason: String,
    },
}

/// The DSSE v1 pre-authentication encoding of `payload_type` and `payload`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// An unsigned envelope around `payload`.
    pub fn new(payload_type: &str, payload: &[u8]) -> Self {
        Envelope {
            payload_type: payload_type.to_string(),
            payload: B64.encode(payload),
            signatures: Vec::new(),
        }
    }

    /// An envelope around `payload` signed by every key in `keys`.
    pub fn sign(payload_type: &str, payload: &[u8], keys: &[&SigningKey]) -> Self {
        let mut env = Envelope::new(payload_type, payload);
        for key in keys {
            let sig = key.sign(&pae(payload_type, payload));
            env.add_signature(key_id_of(key), &sig.to_bytes());
        }
        env
    }

    /// Appends a signature made elsewhere (e.g. by an external signer).
    pub fn add_signature(&mut self, keyid: KeyId, sig: &[u8]) {
        self.signatures.push(EnvelopeSignature {
            keyid,
            sig: B64.encode(sig),
        });
    }

    /// The exact payload bytes that were signed.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        B64.decode(&self.payload)
            .map_err(|_| EnvelopeError::PayloadEncoding)
    }

    /// The bytes a signer signs: the PAE of this envelope's type and payload.
    pub fn signing_input(&self) -> Result<Vec<u8>, EnvelopeError> {
        Ok(pae(&self.payload_type, &self.payload_bytes()?))
    }

    /// The distinct key ids among `trusted` whose signature on this envelope verifies.
    ///
    /// A key that signs twice counts once; a key id not in `trusted` counts zero.
    pub fn verified_keyids(&self, trusted: &[(KeyId, PublicKey)]) -> Vec<KeyId> {
        let Ok(input) = self.signing_input() else {
            return Vec::new();
        };
        let mut good: Vec<KeyId> = Vec::new();
        for s in &self.signatures {
            if good.contains(&s.keyid) {
                continue;
            }
            let Some((_, key)) = trusted.iter().find(|(id, _)| *id == s.keyid) else {
                continue;
            };
            // The listed key id must really be this key's id, or a root could
            // alias one key under two ids and count it twice.
            if key.key_id() != s.keyid {
                continue;
            }
            let Ok(sig) = B64.decode(&s.sig) else {
                continue;
            };
            if key.verify(&input, &sig) {
                good.push(s.keyid.clone());
            }
        }
        good
    }

    /// Parses the payload as `T` after checking the payload type.
    ///
    /// This does not verify signatures: callers verify first, then decode.
    pub fn decode<T: serde::de::DeserializeOwned>(
        &self,
        payload_type: &str,
        what: &'static str,
    ) -> Result<T, EnvelopeError> {
        if self.payload_type != payload_type {
            return Err(EnvelopeError::WrongType {
                expected: payload_type.to_string(),
                found: self.payload_type.clone(),
            });
        }
        let bytes = self.payload_bytes()?;
        serde_json::from_slice(&bytes).map_err(|e| EnvelopeError::Payload {
            what,
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_signing_key;

    fn trusted(k: &SigningKey) -> Vec<(KeyId, PublicKey)> {
        let p = PublicKey::from_signing_key(k);
        vec![(p.key_id(), p)]
    }

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn signature_verifies_and_a_changed_payload_does_not() {
        let k = generate_signing_key();
        let env = Envelope::sign("t", b"{\"a\":1}", &[&k]);
        assert_eq!(env.verified_keyids(&trusted(&k)).len(), 1);
        let mut bad = env.clone();
        bad.payload = B64.encode(b"{\"a\":2}");
        assert!(bad.verified_keyids(&trusted(&k)).is_empty());
        let mut retyped = env.clone();
        retyped.payload_type = "u".into();
        assert!(retyped.verified_keyids(&trusted(&k)).is_empty());
    }

    #[test]
    fn duplicate_signatures_count_once_and_unknown_keys_count_zero() {
        let k = generate_signing_key();
        let other = generate_signing_key();
        let mut env = Envelope::sign("t", b"x", &[&k]);
        let dup = env.signatures[0].clone();
        env.signatures.push(dup);
        let foreign = Envelope::sign("t", b"x", &[&other]);
        env.signatures.extend(foreign.signatures);
        assert_eq!(env.verified_keyids(&trusted(&k)), vec![key_id_of(&k)]);
    }

    proptest::proptest! {
        #[test]
        fn any_single_byte_change_to_the_payload_is_rejected(idx in 0usize..64, flip in 1u8..=255) {
            let k = generate_signing_key();
            let payload: Vec<u8> = (0..64u8).collect();
            let env = Envelope::sign("t", &payload, &[&k]);
            let mut changed = payload.clone();
            changed[idx] ^= flip;
            let mut bad = env.clone();
            bad.payload = B64.encode(&changed);
            proptest::prop_assert!(bad.verified_keyids(&trusted(&k)).is_empty());
        }
    }
}
