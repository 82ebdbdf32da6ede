//! Redaction of support-bundle text: every secret this host knows is replaced wherever
//! it appears (log lines included), and so is anything shaped like a credential (a
//! private key, a bearer token, a JWT, a license key or an operator token) whether or
//! not the host knows it.

use regex::Regex;

/// What a redacted secret reads as.
pub const REDACTED: &str = "[REDACTED]";

/// Shorter known secrets are not searched for in text: replacing every `1` or `on`
/// in a log would destroy it. They are still never copied as values.
const MIN_SEARCHED_LEN: usize = 4;

/// Credential shapes redacted wherever they appear.
const CREDENTIAL_SHAPES: &[&str] = &[
    // PEM private keys, whole blocks.
    r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
    // JWTs (registry tokens).
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    // `Authorization: Bearer …`, `Basic …`.
    r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}",
    // Driftless license keys and operator tokens.
    r"\bdl(?:op)?_[A-Za-z0-9_]{8,}",
];

/// Replaces known secrets and credential shapes in text.
pub struct Redactor {
    /// Longest first, so a secret that contains another is replaced whole.
    secrets: Vec<String>,
    shapes: Vec<Regex>,
}

impl Redactor {
    /// A redactor for `secrets` (values this host holds that must never leave it).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| s.len() >= MIN_SEARCHED_LEN)
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        let shapes = CREDENTIAL_SHAPES
            .iter()
            .filter_map(|p| Regex::new(p).ok())
            .collect();
        Redactor { secrets, shapes }
    }

    /// `text` with every secret and credential shape replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        for shape in &self.shapes {
            out = shape.replace_all(&out, REDACTED).into_owned();
        }
        out
    }

    /// Bytes as text (lossily), redacted.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        self.redact(&String::from_utf8_lossy(bytes)).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_and_credential_shapes_are_replaced_everywhere() {
        let r = Redactor::new(["hunter2-long".to_string(), "no".to_string()]);
        let text = "db password hunter2-long refused; no\n\
            Authorization: Bearer abcdefgh12345678\n\
            token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJpbnMifQ.c2lnbmF0dXJl\n\
            license dl_0123456789abcdef and dlop_fedcba9876543210\n\
            -----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n";
        let out = r.redact(text);
        for leaked in [
            "hunter2-long",
            "abcdefgh12345678",
            "eyJhbGci",
            "dl_0123",
            "dlop_fed",
            "MC4CAQAw",
        ] {
            assert!(!out.contains(leaked), "{leaked} in {out}");
        }
        assert!(
            out.contains("refused; no"),
            "a 2-byte value is not searched: {out}"
        );
    }

    #[test]
    fn a_secret_containing_another_is_replaced_whole() {
        let r = Redactor::new(["abcd".to_string(), "abcdefgh".to_string()]);
        assert_eq!(r.redact("x abcdefgh y abcd"), "x [REDACTED] y [REDACTED]");
    }
}
