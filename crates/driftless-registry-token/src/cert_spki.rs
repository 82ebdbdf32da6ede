//! Reads a certificate's DER SubjectPublicKeyInfo, to check it matches the signing key.
//!
//! The certificate comes from a file on disk, so it is parsed as untrusted input: by
//! RustCrypto's `x509-cert` (the same `der`/`spki` stack `p256` already uses), and only
//! after its size is checked against [`MAX_CERTIFICATE_DER`].

use crate::TokenError;
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;

/// Largest DER certificate read. A self-signed P-256 certificate is well under 1 KiB,
/// and the certificate travels in every token's `x5c` header, so anything near this
/// size is not one of ours.
pub(crate) const MAX_CERTIFICATE_DER: usize = 64 * 1024;

/// The DER SubjectPublicKeyInfo inside a DER certificate.
pub(crate) fn spki_of_certificate(cert_der: &[u8]) -> Result<Vec<u8>, TokenError> {
    if cert_der.len() > MAX_CERTIFICATE_DER {
        return Err(malformed(format!(
            "{} bytes of DER, more than the {MAX_CERTIFICATE_DER} a certificate may have",
            cert_der.len()
        )));
    }
    let cert = Certificate::from_der(cert_der).map_err(|e| malformed(e.to_string()))?;
    cert.tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| malformed(e.to_string()))
}

fn malformed(reason: String) -> TokenError {
    TokenError::Certificate { reason }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::generate_key_material;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::der::Document;
    use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};

    #[test]
    fn refuses_truncated_and_non_certificates() {
        assert!(spki_of_certificate(&[]).is_err());
        assert!(spki_of_certificate(&[0x30, 0x05, 0x01]).is_err());
        assert!(spki_of_certificate(&[0x04, 0x00]).is_err());
        assert!(spki_of_certificate(&[0x30, 0x02, 0x30, 0x00]).is_err());
    }

    #[test]
    fn finds_the_key_of_a_generated_certificate() {
        let m = generate_key_material("a", 1_700_000_000).unwrap();
        let (_, cert) = Document::from_pem(&m.cert_pem).unwrap();
        let key = SigningKey::from_pkcs8_pem(&m.key_pem).unwrap();
        let key_spki = key.verifying_key().to_public_key_der().unwrap();
        assert_eq!(
            spki_of_certificate(cert.as_bytes()).unwrap(),
            key_spki.as_bytes()
        );
    }

    #[test]
    fn refuses_oversized_der_before_parsing() {
        // A SEQUENCE header claiming exactly the bytes that follow, so only the cap can refuse it.
        let body = MAX_CERTIFICATE_DER;
        let mut der = vec![
            0x30,
            0x83,
            (body >> 16) as u8,
            (body >> 8) as u8,
            body as u8,
        ];
        der.resize(der.len() + body, 0);
        let err = spki_of_certificate(&der).unwrap_err();
        assert!(err.to_string().contains("more than the 65536"), "{err}");
    }
}
