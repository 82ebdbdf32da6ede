//! A fresh P-256 key and the self-signed certificate the registry is told to trust.

use crate::TokenError;
use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// How long before "now" a new certificate becomes valid, to absorb clock skew.
const BACKDATE: Duration = Duration::days(1);
/// How long a new certificate stays valid; rotation replaces it long before.
const VALIDITY: Duration = Duration::days(3653);

/// A registry token signing key and its certificate, both PEM.
#[derive(Clone)]
pub struct TokenKeyMaterial {
    /// PKCS#8 PEM of the P-256 private key (keep secret).
    pub key_pem: String,
    /// Self-signed X.509 certificate PEM: the registry's `rootcertbundle`.
    pub cert_pem: String,
}

impl std::fmt::Debug for TokenKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key never goes to a log.
        f.debug_struct("TokenKeyMaterial")
            .field("key_pem", &"<redacted>")
            .field("cert_pem", &self.cert_pem)
            .finish()
    }
}

/// Generates a P-256 key and a self-signed certificate for it named `common_name`,
/// valid from a day before `now_unix` for ten years.
pub fn generate_key_material(
    common_name: &str,
    now_unix: i64,
) -> Result<TokenKeyMaterial, TokenError> {
    let generate = |reason: String| TokenError::Generate { reason };
    let signing_key = SigningKey::random(&mut rand::rngs::OsRng);
    let key_pem = signing_key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| generate(e.to_string()))?
        .to_string();
    let key_pair = KeyPair::from_pem(&key_pem).map_err(|e| generate(e.to_string()))?;

    let now = OffsetDateTime::from_unix_timestamp(now_unix)
        .map_err(|_| TokenError::Time { unix: now_unix })?;
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| generate(e.to_string()))?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = now - BACKDATE;
    params.not_after = now + VALIDITY;
    params.serial_number = Some(random_serial());
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| generate(e.to_string()))?;
    Ok(TokenKeyMaterial {
        key_pem,
        cert_pem: cert.pem(),
    })
}

/// A positive 159-bit serial, so the current and next certificates never collide.
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}
