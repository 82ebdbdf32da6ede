//! The one error type of this crate.

/// Why key material could not be made or read, or a token could not be minted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The private key PEM is not a PKCS#8 P-256 key.
    #[error("the registry token key is not a PKCS#8 P-256 private key ({reason}); regenerate it with generate_key_material")]
    Key {
        /// What the parser said.
        reason: String,
    },
    /// The certificate PEM is not a readable X.509 certificate.
    #[error("the registry token certificate is not a readable X.509 certificate ({reason}); regenerate it with generate_key_material")]
    Certificate {
        /// What the parser said.
        reason: String,
    },
    /// The certificate was made for another key.
    #[error("the registry token certificate does not belong to the signing key (certificate kid {cert_kid}, key kid {key_kid}); use the certificate generated with this key")]
    KeyMismatch {
        /// libtrust kid of the certificate's public key.
        cert_kid: String,
        /// libtrust kid of the signing key.
        key_kid: String,
    },
    /// A scope string is not `type:name:actions`.
    #[error("scope `{scope}` is not valid ({reason}); expected e.g. repository:acme/compose:pull")]
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
    },
    /// Generating the key or certificate, or signing, failed.
    #[error("cannot create registry token key material: {reason}")]
    Generate {
        /// What the library said.
        reason: String,
    },
    /// A timestamp is out of the representable range.
    #[error("timestamp {unix} is out of range for a registry token; pass the current unix time")]
    Time {
        /// The timestamp as given.
        unix: i64,
    },
}
