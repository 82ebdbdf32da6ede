//! Reads a certificate's DER SubjectPublicKeyInfo, to check it matches the signing key.
//!
//! Only the outer structure is walked (Certificate → TBSCertificate → seventh-or-sixth
//! field); pulling in a full X.509 parser for that would be most of this crate's weight.

use crate::TokenError;

const TAG_SEQUENCE: u8 = 0x30;
const TAG_VERSION: u8 = 0xa0;

/// One DER element: its tag, the whole encoding and the contents.
struct Tlv<'a> {
    tag: u8,
    whole: &'a [u8],
    contents: &'a [u8],
}

/// The DER SubjectPublicKeyInfo inside a DER certificate.
pub(crate) fn spki_of_certificate(cert_der: &[u8]) -> Result<&[u8], TokenError> {
    let (cert, _) = read_tlv(cert_der)?;
    expect_sequence(&cert, "certificate")?;
    let (tbs, _) = read_tlv(cert.contents)?;
    expect_sequence(&tbs, "tbsCertificate")?;
    let mut rest = tbs.contents;
    let (first, after) = read_tlv(rest)?;
    if first.tag == TAG_VERSION {
        rest = after;
    }
    // serialNumber, signature, issuer, validity, subject precede the key.
    for _ in 0..5 {
        rest = read_tlv(rest)?.1;
    }
    let (spki, _) = read_tlv(rest)?;
    expect_sequence(&spki, "subjectPublicKeyInfo")?;
    Ok(spki.whole)
}

fn expect_sequence(tlv: &Tlv<'_>, what: &str) -> Result<(), TokenError> {
    if tlv.tag == TAG_SEQUENCE {
        Ok(())
    } else {
        Err(malformed(&format!("{what} is not a DER sequence")))
    }
}

fn malformed(reason: &str) -> TokenError {
    TokenError::Certificate {
        reason: reason.to_string(),
    }
}

/// Splits the first DER element off `bytes`.
fn read_tlv(bytes: &[u8]) -> Result<(Tlv<'_>, &[u8]), TokenError> {
    let truncated = || malformed("truncated DER");
    let (&tag, after_tag) = bytes.split_first().ok_or_else(truncated)?;
    let (&first_len, after_len) = after_tag.split_first().ok_or_else(truncated)?;
    let (len, len_bytes) = if first_len < 0x80 {
        (usize::from(first_len), 0)
    } else {
        let n = usize::from(first_len & 0x7f);
        if n == 0 || n > 4 {
            return Err(malformed("unsupported DER length"));
        }
        let len_part = after_len.get(..n).ok_or_else(truncated)?;
        let len = len_part
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, n)
    };
    let header = 2 + len_bytes;
    let end = header.checked_add(len).ok_or_else(truncated)?;
    let whole = bytes.get(..end).ok_or_else(truncated)?;
    Ok((
        Tlv {
            tag,
            whole,
            contents: &whole[header..],
        },
        &bytes[end..],
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refuses_truncated_and_non_certificates() {
        assert!(spki_of_certificate(&[]).is_err());
        assert!(spki_of_certificate(&[0x30, 0x05, 0x01]).is_err());
        assert!(spki_of_certificate(&[0x04, 0x00]).is_err());
        assert!(spki_of_certificate(&[0x30, 0x02, 0x30, 0x00]).is_err());
    }
}
