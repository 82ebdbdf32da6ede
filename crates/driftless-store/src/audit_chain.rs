//! The audit log's hash chain, one definition for both backends and the verifier:
//! `hash = hex(sha256(prev_hash || "\n" || canonical_json(event)))`, where the first
//! entry's `prev_hash` is [`GENESIS_HASH`] and the canonical JSON is the event as a
//! compact object with its keys sorted: `{"action","actor","at","detail","request_id",
//! "subject"}`. `request_id` is left out when empty, so entries written before it
//! existed keep the hashes they were written with.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::AuditEvent;

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The event with its fields in sorted key order, so the JSON does not depend on the
/// declaration order of `AuditEvent` or on serde_json's map features.
#[derive(Serialize)]
struct CanonicalEvent<'a> {
    action: &'a str,
    actor: &'a str,
    at: i64,
    detail: &'a str,
    #[serde(skip_serializing_if = "is_empty")]
    request_id: &'a str,
    subject: &'a str,
}

/// Whether a field is left out of the canonical JSON.
fn is_empty(s: &&str) -> bool {
    s.is_empty()
}

/// The hash an entry with this predecessor (hex) and event must carry (hex).
pub fn entry_hash(prev_hash: &str, event: &AuditEvent) -> String {
    let canonical = CanonicalEvent {
        action: &event.action,
        actor: &event.actor,
        at: event.at,
        detail: &event.detail,
        request_id: &event.request_id,
        subject: &event.subject,
    };
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    // Serialising a struct of strings and an integer to a writer that cannot fail
    // cannot fail, so the error arm is unreachable; it hashes nothing rather than panic.
    let json = serde_json::to_vec(&canonical).unwrap_or_default();
    hasher.update(&json);
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(request_id: &str) -> AuditEvent {
        AuditEvent {
            at: 5,
            actor: "operator".into(),
            action: "app.create".into(),
            subject: "acme".into(),
            detail: "{}".into(),
            request_id: request_id.into(),
        }
    }

    #[test]
    fn an_entry_without_a_request_id_hashes_as_before_the_field_existed() {
        let mut hasher = Sha256::new();
        hasher.update(GENESIS_HASH.as_bytes());
        hasher.update(
            b"\n{\"action\":\"app.create\",\"actor\":\"operator\",\"at\":5,\"detail\":\"{}\",\"subject\":\"acme\"}",
        );
        assert_eq!(
            entry_hash(GENESIS_HASH, &event("")),
            hex::encode(hasher.finalize())
        );
    }

    #[test]
    fn the_request_id_is_covered_by_the_hash() {
        assert_ne!(
            entry_hash(GENESIS_HASH, &event("a1")),
            entry_hash(GENESIS_HASH, &event("a2"))
        );
    }
}
