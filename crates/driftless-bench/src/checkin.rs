//! Check-ins as a host sends them: the body, and the request bytes of one install,
//! authenticated by an Ed25519 signature or a check-in session's MAC, with a
//! millisecond timestamp newer than the install's last.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_wire::checkin::{request_signing_input, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use driftless_wire::session::{SessionKey, MAC_HEADER, SESSION_HEADER};
use ed25519_dalek::{Signer as _, SigningKey};
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// The report every simulated install sends: converged on the seeded release.
pub fn checkin_body(version: &str, release_counter: u64) -> Vec<u8> {
    serde_json::json!({
        "release_counter": release_counter,
        "version": version,
        "status": "converged",
        "cli_version": env!("CARGO_PKG_VERSION"),
        "platform": "linux/amd64",
        "free_disk_bytes": 50_000_000_000u64,
    })
    .to_string()
    .into_bytes()
}

/// How an install proves a request is its own.
pub enum Auth {
    /// An Ed25519 signature with its key.
    Signature(SigningKey),
    /// A MAC under a check-in session's key.
    Session {
        /// The session's id.
        id: String,
        /// The shared key.
        key: SessionKey,
    },
}

/// One install's signed POSTs to one path.
pub struct SignedPost {
    path: String,
    /// Everything before the timestamp header, including `If-None-Match` if any.
    head: Vec<u8>,
    auth: Auth,
    last_ms: i64,
}

impl SignedPost {
    /// Requests to `path` on `host` with `body`'s length, sending `if_none_match`.
    pub fn new(
        host: &str,
        path: String,
        body_len: usize,
        if_none_match: Option<&str>,
        auth: Auth,
    ) -> Self {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\n"
        );
        if let Some(tag) = if_none_match {
            head.push_str(&format!("If-None-Match: {tag}\r\n"));
        }
        SignedPost {
            path,
            head: head.into_bytes(),
            auth,
            last_ms: 0,
        }
    }

    /// Writes the next request with `body` into `out`.
    pub fn write(&mut self, body: &[u8], out: &mut Vec<u8>) {
        // Newer than the last one, even when requests come faster than a millisecond.
        let ts = now_ms().max(self.last_ms + 1);
        self.last_ms = ts;
        out.extend_from_slice(&self.head);
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{TIMESTAMP_HEADER}: {ts}\r\n");
        match &self.auth {
            Auth::Signature(key) => {
                let sig = key.sign(&request_signing_input("POST", &self.path, ts, body));
                let _ = write!(
                    out,
                    "{SIGNATURE_HEADER}: {}\r\n",
                    B64.encode(sig.to_bytes())
                );
            }
            Auth::Session { id, key } => {
                let mac = key.mac("POST", &self.path, ts, body);
                let _ = write!(
                    out,
                    "{SESSION_HEADER}: {id}\r\n{MAC_HEADER}: {}\r\n",
                    B64.encode(mac)
                );
            }
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
    }

    /// The same requests with another `If-None-Match` and body length.
    pub fn with_head(self, host: &str, body_len: usize, if_none_match: Option<&str>) -> Self {
        let last_ms = self.last_ms;
        let mut post = SignedPost::new(host, self.path, body_len, if_none_match, self.auth);
        post.last_ms = last_ms;
        post
    }

    /// The same requests, each newer than `last_ms` (the install's clock so far).
    pub fn after(mut self, last_ms: i64) -> Self {
        self.last_ms = self.last_ms.max(last_ms);
        self
    }

    /// The timestamp of the last request written.
    pub fn last_ms(&self) -> i64 {
        self.last_ms
    }
}

/// Unix milliseconds now.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use driftless_wire::PublicKey;

    fn header<'a>(text: &'a str, name: &str) -> &'a str {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap()
    }

    #[test]
    fn a_signed_check_in_verifies_and_each_is_newer_than_the_last() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = PublicKey::from_signing_key(&key);
        let body = checkin_body("1.0.0", 1);
        let path = "/v1/installs/ins_1/checkin".to_string();
        let mut post = SignedPost::new(
            "h:1",
            path.clone(),
            body.len(),
            Some("\"t\""),
            Auth::Signature(key),
        );
        let mut last = 0;
        for _ in 0..3 {
            let mut out = Vec::new();
            post.write(&body, &mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(text.starts_with("POST /v1/installs/ins_1/checkin HTTP/1.1\r\n"));
            assert!(text.contains("If-None-Match: \"t\"\r\n"));
            assert!(text.ends_with(&format!("\r\n\r\n{}", String::from_utf8_lossy(&body))));
            let ts: i64 = header(&text, TIMESTAMP_HEADER).trim().parse().unwrap();
            assert!(ts > last);
            last = ts;
            let sig = B64.decode(header(&text, SIGNATURE_HEADER).trim()).unwrap();
            assert!(public.verify(&request_signing_input("POST", &path, ts, &body), &sig));
        }
    }

    #[test]
    fn a_session_check_in_carries_the_session_and_a_verifying_mac() {
        let key = SessionKey::from_bytes([9; 32]);
        let body = checkin_body("1.0.0", 1);
        let path = "/v1/installs/ins_1/checkin".to_string();
        let auth = Auth::Session {
            id: "s-1".into(),
            key: key.clone(),
        };
        let mut post = SignedPost::new("h:1", path.clone(), body.len(), None, auth);
        let mut out = Vec::new();
        post.write(&body, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(header(&text, SESSION_HEADER).trim(), "s-1");
        assert!(!text.contains("If-None-Match"));
        let ts: i64 = header(&text, TIMESTAMP_HEADER).trim().parse().unwrap();
        let mac = B64.decode(header(&text, MAC_HEADER).trim()).unwrap();
        assert!(key.verify("POST", &path, ts, &body, &mac));
    }
}
