//! Ed25519 public keys and key ids as they appear in signed documents.

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fmt;

/// A key id: the lowercase hex SHA-256 of the raw 32-byte Ed25519 public key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub String);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a key could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The key type is not one Driftless verifies.
    #[error("unsupported key type `{0}` (only ed25519 is accepted)")]
    UnsupportedType(String),
    /// The key bytes are malformed.
    #[error("malformed ed25519 public key: {0}")]
    Malformed(String),
}

/// A public key as listed in a root document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey {
    /// Always `ed25519`.
    pub keytype: String,
    /// Hex of the raw 32-byte public key.
    pub public: String,
}

impl PublicKey {
    /// The public half of `key`.
    pub fn from_signing_key(key: &SigningKey) -> Self {
        Self::from_verifying_key(&key.verifying_key())
    }

    /// Wraps a verifying key.
    pub fn from_verifying_key(key: &VerifyingKey) -> Self {
        PublicKey {
            keytype: "ed25519".into(),
            public: hex::encode(key.as_bytes()),
        }
    }

    /// The key id of this key.
    pub fn key_id(&self) -> KeyId {
        let raw = hex::decode(&self.public).unwrap_or_else(|_| self.public.as_bytes().to_vec());
        KeyId(hex::encode(Sha256::digest(raw)))
    }

    /// The verifying key, if well formed.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        if self.keytype != "ed25519" {
            return Err(KeyError::UnsupportedType(self.keytype.clone()));
        }
        let bytes = hex::decode(&self.public).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::Malformed("expected 32 bytes".into()))?;
        VerifyingKey::from_bytes(&arr).map_err(|e| KeyError::Malformed(e.to_string()))
    }

    /// Strictly verifies `sig` over `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        let Ok(key) = self.verifying_key() else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(sig) else {
            return false;
        };
        key.verify_strict(message, &sig).is_ok()
    }
}

/// The key id of a signing key's public half.
pub fn key_id_of(key: &SigningKey) -> KeyId {
    PublicKey::from_signing_key(key).key_id()
}

/// A fresh random Ed25519 signing key.
pub fn generate_signing_key() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}
