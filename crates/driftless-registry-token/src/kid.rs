//! The libtrust key fingerprint distribution uses as a JWT `kid`.

use sha2::{Digest, Sha256};

/// The libtrust key id of a DER SubjectPublicKeyInfo: base32 of the first 240 bits of its
/// SHA-256, in 12 groups of 4 joined by `:`.
pub fn libtrust_kid(spki_der: &[u8]) -> String {
    let hash = Sha256::digest(spki_der);
    let encoded = data_encoding::BASE32_NOPAD.encode(&hash[..30]);
    let groups: Vec<&str> = (0..encoded.len())
        .step_by(4)
        .map(|i| &encoded[i..(i + 4).min(encoded.len())])
        .collect();
    groups.join(":")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kid_is_twelve_groups_of_four_base32() {
        let kid = libtrust_kid(b"any spki");
        let groups: Vec<&str> = kid.split(':').collect();
        assert_eq!(groups.len(), 12, "{kid}");
        for g in groups {
            assert_eq!(g.len(), 4, "{kid}");
            assert!(g
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        }
    }

    #[test]
    fn kid_is_base32_of_sha256_prefix() {
        // SHA-256("") begins e3b0c442 98fc1c14 ...; base32 of e3 b0 c4 42 98 is "4OYMIQUY".
        let kid = libtrust_kid(b"");
        assert!(kid.starts_with("4OYM:IQUY:"), "{kid}");
    }
}
