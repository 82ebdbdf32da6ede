//! The one error type of this crate: the message says what failed, [`TokenError::hint`]
//! what to do about it.

/// Why key material could not be made or read, or a token could not be minted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The private key PEM is not a PKCS#8 P-256 key.
    #[error("the registry token key is not a PKCS#8 P-256 private key ({reason})")]
    Key {
        /// What the parser said.
        reason: String,
    },
    /// The certificate PEM is not a readable X.509 certificate.
    #[error("the registry token certificate is not a readable X.509 certificate ({reason})")]
    Certificate {
        /// What the parser said.
        reason: String,
    },
    /// The certificate was made for another key.
    #[error("the registry token certificate does not belong to the signing key (certificate kid {cert_kid}, key kid {key_kid})")]
    KeyMismatch {
        /// libtrust kid of the certificate's public key.
        cert_kid: String,
        /// libtrust kid of the signing key.
        key_kid: String,
    },
    /// A scope string is not `type:name:actions`.
    #[error("scope `{scope}` is not valid ({reason})")]
    Scope {
        /// The scope as given.
        scope: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A token request cannot produce a token the registry would honour.
    #[error("cannot mint a registry token: {reason}")]
    Request {
        /// What is wrong with the request.
        reason: String,
        /// What to do about it, when the caller can fix it.
        hint: Option<&'static str>,
    },
    /// Generating the key or certificate, or signing, failed.
    #[error("cannot create registry token key material: {reason}")]
    Generate {
        /// What the library said.
        reason: String,
    },
    /// A timestamp is out of the representable range.
    #[error("timestamp {unix} is out of range for a registry token")]
    Time {
        /// The timestamp as given.
        unix: i64,
    },
}

impl TokenError {
    /// What a person can do about it, printed under the error line.
    pub fn hint(&self) -> Option<String> {
        let text = match self {
            TokenError::Key { .. } | TokenError::Certificate { .. } => {
                "regenerate it with generate_key_material"
            }
            TokenError::KeyMismatch { .. } => "use the certificate generated with this key",
            TokenError::Scope { .. } => "write it like repository:acme/compose:pull",
            TokenError::Request { hint, .. } => return hint.map(str::to_owned),
            TokenError::Time { .. } => "pass the current unix time",
            TokenError::Generate { .. } => return None,
        };
        Some(text.into())
    }
}
