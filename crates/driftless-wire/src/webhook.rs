//! Webhooks: the events the control plane POSTs to a vendor's URLs, the API types that
//! register them, and the signature a receiver checks.
//!
//! Every delivery carries [`SIGNATURE_HEADER`]: `t=<unix seconds>,v1=<hex>`, where the
//! hex is HMAC-SHA256, keyed with the webhook's secret (the `whsec_…` string, as
//! bytes), over `"<t>.<body>"`: the timestamp, a dot, and the body's exact bytes. A
//! receiver recomputes it over the bytes it received (before parsing them), compares
//! in constant time and refuses a timestamp older (or further ahead) than a bound it
//! chooses; [`verify`] does all three. Deliveries are at least once: the event's `id`
//! is the same on every attempt, so a receiver can drop a repeat.

use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Driftless-Signature";
/// The header that names the event type (also in the body).
pub const EVENT_HEADER: &str = "X-Driftless-Event";
/// The header that carries the event id (also in the body).
pub const EVENT_ID_HEADER: &str = "X-Driftless-Event-Id";

/// A rollout halted itself: too many installs that tried it failed.
pub const ROLLOUT_HALTED: &str = "rollout.halted";
/// An operator resumed a paused or halted rollout.
pub const ROLLOUT_RESUMED: &str = "rollout.resumed";
/// Every wave opened; the channel points at the release.
pub const ROLLOUT_COMPLETED: &str = "rollout.completed";
/// A release was yanked.
pub const RELEASE_YANKED: &str = "release.yanked";
/// An app's share of installs reporting a failed apply passed the threshold.
pub const FAILURE_SPIKE: &str = "fleet.failure_spike";

/// Every event type, as registered and sent.
pub const EVENT_TYPES: [&str; 5] = [
    ROLLOUT_HALTED,
    ROLLOUT_RESUMED,
    ROLLOUT_COMPLETED,
    RELEASE_YANKED,
    FAILURE_SPIKE,
];

/// What a delivery's body holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEventBody {
    /// Unique per event, the same on every attempt: `whe_<hex>`.
    pub id: String,
    /// One of [`EVENT_TYPES`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The app it is about.
    pub app: String,
    /// Unix seconds it happened at.
    pub at: i64,
    /// What happened, per type (rollout, release, counts).
    pub data: serde_json::Value,
}

/// `POST /v1/apps/{app}/webhooks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateWebhook {
    /// Where events are POSTed (`https://`, or `http://` for a receiver on loopback).
    pub url: String,
    /// The event types to send; empty means every type.
    #[serde(default)]
    pub events: Vec<String>,
}

/// A registered webhook, without its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookInfo {
    /// Its number.
    pub id: u64,
    /// The app whose events it receives.
    pub app: String,
    /// Where events are POSTed.
    pub url: String,
    /// The event types it receives; empty means every type.
    pub events: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// The answer to a registration: the only time the secret is shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookCreated {
    /// What was registered.
    pub webhook: WebhookInfo,
    /// The signing secret (`whsec_…`); it cannot be read back later.
    pub secret: String,
}

impl std::fmt::Debug for WebhookCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookCreated")
            .field("webhook", &self.webhook)
            .finish_non_exhaustive()
    }
}

/// One queued event for one webhook, and how its delivery went so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryInfo {
    /// Its number.
    pub id: u64,
    /// The webhook it goes to.
    pub webhook_id: u64,
    /// The event's id (as in the body).
    pub event_id: String,
    /// The event type.
    pub event: String,
    /// `pending`, `delivered` or `failed` (gave up).
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// The HTTP status of the last attempt, if it got one.
    pub last_status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// Unix milliseconds of the next attempt (while pending).
    pub next_attempt_ms: i64,
    /// Unix seconds it was queued at.
    pub created_at: i64,
}

/// A new signing secret: `whsec_` and 32 random bytes in hex.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    let mut m = <Hmac<Sha256> as hmac::Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The [`SIGNATURE_HEADER`] value for `body` sent at `t` (Unix seconds).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

/// Why a delivery's signature is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<seconds>,v1=<hex>`.
    #[error("the {SIGNATURE_HEADER} header is not `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    /// The timestamp is further from now than the receiver allows.
    #[error("the signature's timestamp is {age_s} s from now; at most {max_age_s} s is accepted (a replay, or a clock off)")]
    Stale {
        /// How far from now, in seconds.
        age_s: i64,
        /// The bound.
        max_age_s: i64,
    },
    /// No `v1` value matches the body under this secret.
    #[error("the signature does not match the body under this webhook's secret")]
    Mismatch,
}

/// Checks a delivery as a receiver should: `header` is the [`SIGNATURE_HEADER`] value,
/// `body` the bytes received, `now` Unix seconds, and the timestamp must be within
/// `max_age_s` of it (either way). Several `v1=` values (a secret being rotated) are
/// accepted if one matches.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    max_age_s: i64,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => tags.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let (Some(t), false) = (t, tags.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    let age_s = now.saturating_sub(t).saturating_abs();
    if age_s > max_age_s {
        return Err(SignatureError::Stale { age_s, max_age_s });
    }
    // `verify_slice` compares in constant time.
    if tags
        .iter()
        .any(|tag| mac(secret, t, body).verify_slice(tag).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";
    const BODY: &[u8] = br#"{"id":"whe_1","type":"rollout.halted"}"#;

    #[test]
    fn a_signature_verifies_over_the_same_bytes_in_time() {
        let header = sign(SECRET, 1_000, BODY);
        assert!(header.starts_with("t=1000,v1="));
        assert_eq!(verify(SECRET, &header, BODY, 1_100, 300), Ok(()));
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let header = sign(SECRET, 1_000, BODY);
        let tampered = br#"{"id":"whe_1","type":"rollout.resumed"}"#;
        assert_eq!(
            verify(SECRET, &header, tampered, 1_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn another_secret_is_refused() {
        let header = sign("whsec_other", 1_000, BODY);
        assert_eq!(
            verify(SECRET, &header, BODY, 1_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_old_or_future_timestamp_is_refused() {
        let header = sign(SECRET, 1_000, BODY);
        assert!(matches!(
            verify(SECRET, &header, BODY, 1_301, 300),
            Err(SignatureError::Stale { age_s: 301, .. })
        ));
        assert!(matches!(
            verify(SECRET, &header, BODY, 699, 300),
            Err(SignatureError::Stale { .. })
        ));
    }

    #[test]
    fn a_moved_timestamp_is_refused() {
        let header = sign(SECRET, 1_000, BODY).replace("t=1000", "t=1200");
        assert_eq!(
            verify(SECRET, &header, BODY, 1_200, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for h in ["", "t=1000", "v1=00", "t=x,v1=00", "t=1000,v1=zz"] {
            assert_eq!(
                verify(SECRET, h, BODY, 1_000, 300),
                Err(SignatureError::Malformed),
                "{h}"
            );
        }
    }

    #[test]
    fn secrets_are_fresh_and_prefixed() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with("whsec_") && a.len() == 70);
        assert_ne!(a, b);
    }
}
