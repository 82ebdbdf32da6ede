//! Signing registry JWTs with the key whose certificate the registry trusts.

use crate::cert_spki::spki_of_certificate;
use crate::{libtrust_kid, valid_repository_name, Access, TokenError, MIN_LIFETIME_S};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::der::Document;
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rand::RngCore;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How far back `nbf` is set, so a registry whose clock runs a little behind accepts it.
const NOT_BEFORE_SKEW_S: i64 = 5;

/// Signs registry tokens with one P-256 key and names its certificate in each token.
///
/// The key is parsed from PEM once (p256), and signing goes through ring: constant-time
/// and an order of magnitude faster than the pure-Rust signer, which matters because a
/// check-in that hands out a token signs one.
pub struct TokenSigner {
    key: EcdsaKeyPair,
    verifying_key: VerifyingKey,
    rng: SystemRandom,
    kid: String,
    cert_b64: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// What a token should grant, to whom, and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// `iss`: must equal the registry's configured `issuer`.
    pub issuer: String,
    /// `sub`: who the token is for (an install id, a user).
    pub subject: String,
    /// `aud`: must equal the registry's configured `service`.
    pub audience: String,
    /// The `access` claim, exactly what the registry will allow.
    pub access: Vec<Access>,
    /// Requested lifetime in seconds; raised to [`MIN_LIFETIME_S`] if shorter.
    pub lifetime_s: u64,
}

/// A signed token and when it stops working.
#[derive(Clone, PartialEq, Eq)]
pub struct MintedToken {
    /// The compact JWS, sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// Seconds from issue to expiry (`exp - iat`).
    pub expires_in: u64,
    /// Issue time, RFC 3339 UTC.
    pub issued_at: String,
    /// Expiry as unix seconds (`exp`).
    pub expires_at: i64,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A token is a credential until it expires: keep it out of logs.
        f.debug_struct("MintedToken")
            .field("token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The JWT claims distribution reads.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject.
    pub sub: String,
    /// Audience, a single string because distribution 2.8 rejects an array.
    pub aud: String,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Not before, unix seconds.
    pub nbf: i64,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Random token id.
    pub jti: String,
    /// What the token grants.
    pub access: Vec<Access>,
}

#[derive(Serialize)]
struct Header<'a> {
    typ: &'static str,
    alg: &'static str,
    kid: &'a str,
    x5c: [&'a str; 1],
}

impl TokenSigner {
    /// Loads the PKCS#8 key and its certificate, refusing a certificate for another key.
    pub fn from_pem(key_pem: &str, cert_pem: &str) -> Result<Self, TokenError> {
        let key = SigningKey::from_pkcs8_pem(key_pem).map_err(|e| TokenError::Key {
            reason: e.to_string(),
        })?;
        let key_spki = key
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| TokenError::Key {
                reason: e.to_string(),
            })?;
        let (label, cert) = Document::from_pem(cert_pem).map_err(|e| TokenError::Certificate {
            reason: e.to_string(),
        })?;
        if label != "CERTIFICATE" {
            return Err(TokenError::Certificate {
                reason: format!("PEM label is {label}, expected CERTIFICATE"),
            });
        }
        let cert_spki = spki_of_certificate(cert.as_bytes())?;
        let kid = libtrust_kid(key_spki.as_bytes());
        if cert_spki != key_spki.as_bytes() {
            return Err(TokenError::KeyMismatch {
                cert_kid: libtrust_kid(&cert_spki),
                key_kid: kid,
            });
        }
        let rng = SystemRandom::new();
        let public_point = key.verifying_key().to_encoded_point(false);
        let ring_key = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.to_bytes(),
            public_point.as_bytes(),
            &rng,
        )
        .map_err(|e| TokenError::Key {
            reason: e.to_string(),
        })?;
        Ok(TokenSigner {
            key: ring_key,
            verifying_key: *key.verifying_key(),
            rng,
            kid,
            cert_b64: STANDARD.encode(cert.as_bytes()),
        })
    }

    /// The libtrust fingerprint of the key, sent as the JWT `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The verifying half of the key, for checking tokens this signer minted.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying_key
    }

    /// Signs a token for `req`, issued at `now_unix`.
    pub fn mint(&self, req: &TokenRequest, now_unix: i64) -> Result<MintedToken, TokenError> {
        check_request(req)?;
        let lifetime = req.lifetime_s.max(MIN_LIFETIME_S);
        let lifetime_i64 = i64::try_from(lifetime).map_err(|_| TokenError::Request {
            reason: format!("lifetime of {lifetime} seconds is too long"),
            hint: None,
        })?;
        let exp = now_unix
            .checked_add(lifetime_i64)
            .ok_or(TokenError::Time { unix: now_unix })?;
        let issued_at = OffsetDateTime::from_unix_timestamp(now_unix)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .ok_or(TokenError::Time { unix: now_unix })?;
        let claims = TokenClaims {
            iss: req.issuer.clone(),
            sub: req.subject.clone(),
            aud: req.audience.clone(),
            exp,
            nbf: now_unix.saturating_sub(NOT_BEFORE_SKEW_S),
            iat: now_unix,
            jti: random_jti(),
            access: req.access.clone(),
        };
        let header = Header {
            typ: "JWT",
            alg: "ES256",
            kid: &self.kid,
            x5c: [&self.cert_b64],
        };
        let token = self.sign_jws(&to_json(&header)?, &to_json(&claims)?)?;
        Ok(MintedToken {
            token,
            expires_in: lifetime,
            issued_at,
            expires_at: exp,
        })
    }

    fn sign_jws(&self, header: &[u8], claims: &[u8]) -> Result<String, TokenError> {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        // ES256 in JWS is the raw 64-byte r||s (ring's FIXED encoding), not DER.
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| TokenError::Generate {
                reason: "the system random number generator failed while signing".into(),
            })?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

fn check_request(req: &TokenRequest) -> Result<(), TokenError> {
    let refuse = |reason: String, hint| Err(TokenError::Request { reason, hint });
    if req.issuer.is_empty() {
        return refuse(
            "the issuer is empty".into(),
            Some("set it to the registry's auth.token.issuer"),
        );
    }
    if req.audience.is_empty() {
        return refuse(
            "the audience is empty".into(),
            Some("set it to the registry's auth.token.service"),
        );
    }
    for access in &req.access {
        if access.kind == "repository" && !valid_repository_name(&access.name) {
            let reason = format!(
                "repository name `{}` breaks distribution's naming rules (lowercase letters and digits, \
                 separated by `.`, `_`, `__` or `-`, components joined by `/`)",
                access.name
            );
            return refuse(reason, None);
        }
    }
    Ok(())
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, TokenError> {
    serde_json::to_vec(value).map_err(|e| TokenError::Generate {
        reason: e.to_string(),
    })
}

fn random_jti() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
