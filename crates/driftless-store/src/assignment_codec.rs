//! The last assignment of an install, stored compactly: a signed assignment envelope is
//! about 700 bytes of JSON, nearly all of it rebuildable from what the install row
//! already holds (id, sequence, release digest, expiry). What is not is kept in a
//! small blob (app, channel, version, counter, issue time, downgrade flag, the
//! signature and its key id, and the license's entitlements when it has any), and the
//! envelope is rebuilt from it byte for byte on read.
//!
//! An envelope is compacted only if rebuilding it gives exactly the same text, so a
//! document this code does not know (a future field, another signer) is stored whole.
//!
//! Shared by every backend: a blob written by one is read back by any other.

use crate::{StoreError, StoreResult, StoredAssignment};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_wire::release::Assignment;
use driftless_wire::{Digest, Envelope, KeyId, ASSIGNMENT_PAYLOAD_TYPE};

/// The first byte of a compact assignment: its layout.
const LAYOUT_V1: u8 = 1;
/// Layout 1 followed by the entitlements' JSON, its length first (two bytes).
const LAYOUT_V2: u8 = 2;
/// Length-prefixed fields of layout 1: app, channel, version, key id, signature.
const FIELDS: usize = 5;

/// What the install row holds besides the blob.
pub struct RowFacts<'a> {
    /// The install the assignment was issued to.
    pub install_id: &'a str,
    /// The assignment's sequence number.
    pub sequence: u64,
    /// The assigned release's `sha256:` digest.
    pub release_digest: &'a str,
    /// Unix seconds the assignment expires at.
    pub expires: i64,
}

/// The blob for `envelope_text`, if the envelope rebuilds from it exactly.
pub fn compact(envelope_text: &str, row: &RowFacts<'_>) -> Option<Vec<u8>> {
    let env: Envelope = serde_json::from_str(envelope_text).ok()?;
    let [signature] = env.signatures.as_slice() else {
        return None;
    };
    let a: Assignment = serde_json::from_slice(&env.payload_bytes().ok()?).ok()?;
    let sig = B64.decode(&signature.sig).ok()?;
    let keyid = hex::decode(&signature.keyid.0).ok()?;
    let layout = if a.entitlements.is_empty() {
        LAYOUT_V1
    } else {
        LAYOUT_V2
    };
    let mut out = vec![layout];
    for field in [
        a.app.as_bytes(),
        a.channel.as_bytes(),
        a.version.to_string().as_bytes(),
        &keyid,
        &sig,
    ] {
        out.push(u8::try_from(field.len()).ok()?);
        out.extend_from_slice(field);
    }
    out.extend_from_slice(&a.issued_at.to_be_bytes());
    out.extend_from_slice(&a.release_counter.to_be_bytes());
    out.push(u8::from(a.allow_downgrade));
    if layout == LAYOUT_V2 {
        let json = serde_json::to_vec(&a.entitlements).ok()?;
        out.extend_from_slice(&u16::try_from(json.len()).ok()?.to_be_bytes());
        out.extend_from_slice(&json);
    }
    let rebuilt = expand(&out, row).ok()?;
    (rebuilt == envelope_text).then_some(out)
}

/// The blob to store for `assignment` of install `install_id` in place of its envelope
/// and ETag: only if the envelope rebuilds from it exactly and the ETag is the
/// envelope's digest (what a read computes from the rebuilt envelope).
pub fn compact_stored(install_id: &str, assignment: &StoredAssignment) -> Option<Vec<u8>> {
    let row = RowFacts {
        install_id,
        sequence: assignment.sequence,
        release_digest: &assignment.release_digest,
        expires: assignment.expires,
    };
    compact(&assignment.envelope, &row)
        .filter(|_| Digest::of(assignment.envelope.as_bytes()).hex() == assignment.etag)
}

/// The envelope text `blob` was made from, and its ETag.
pub fn expand_with_etag(blob: &[u8], row: &RowFacts<'_>) -> StoreResult<(String, String)> {
    let text = expand(blob, row)?;
    let etag = Digest::of(text.as_bytes()).hex().to_string();
    Ok((text, etag))
}

fn expand(blob: &[u8], row: &RowFacts<'_>) -> StoreResult<String> {
    let corrupt = || {
        StoreError::Backend(format!(
            "install `{}` has a malformed compact assignment",
            row.install_id
        ))
    };
    let (&layout, mut rest) = blob.split_first().ok_or_else(corrupt)?;
    if layout != LAYOUT_V1 && layout != LAYOUT_V2 {
        return Err(corrupt());
    }
    let mut fields: Vec<&[u8]> = Vec::with_capacity(FIELDS);
    for _ in 0..FIELDS {
        let (&len, tail) = rest.split_first().ok_or_else(corrupt)?;
        let len = usize::from(len);
        if tail.len() < len {
            return Err(corrupt());
        }
        fields.push(&tail[..len]);
        rest = &tail[len..];
    }
    let issued_at = i64::from_be_bytes(take8(&mut rest).ok_or_else(corrupt)?);
    let release_counter = u64::from_be_bytes(take8(&mut rest).ok_or_else(corrupt)?);
    let (allow_downgrade, rest) = match rest.split_first() {
        Some((0, tail)) => (false, tail),
        Some((1, tail)) => (true, tail),
        _ => return Err(corrupt()),
    };
    let entitlements = match (layout, rest) {
        (LAYOUT_V1, []) => Default::default(),
        (LAYOUT_V2, [hi, lo, json @ ..])
            if usize::from(u16::from_be_bytes([*hi, *lo])) == json.len() =>
        {
            serde_json::from_slice(json).map_err(|_| corrupt())?
        }
        _ => return Err(corrupt()),
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| corrupt());
    let a = Assignment {
        doc_type: "assignment".into(),
        install_id: row.install_id.to_string(),
        app: text(fields[0])?,
        channel: text(fields[1])?,
        version: text(fields[2])?.parse().map_err(|_| corrupt())?,
        release_digest: row.release_digest.parse().map_err(|_| corrupt())?,
        release_counter,
        sequence: row.sequence,
        issued_at,
        expires: row.expires,
        allow_downgrade,
        entitlements,
    };
    let payload = serde_json::to_vec(&a).map_err(|_| corrupt())?;
    let mut env = Envelope::new(ASSIGNMENT_PAYLOAD_TYPE, &payload);
    env.add_signature(KeyId(hex::encode(fields[3])), fields[4]);
    serde_json::to_string(&env).map_err(|_| corrupt())
}

fn take8(rest: &mut &[u8]) -> Option<[u8; 8]> {
    let (head, tail) = rest.split_first_chunk::<8>()?;
    *rest = tail;
    Some(*head)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use driftless_wire::keys::generate_signing_key;

    fn row() -> RowFacts<'static> {
        RowFacts {
            install_id: "ins_1",
            sequence: 7,
            release_digest:
                "sha256:f988f16cded96944346f3a58c1fe63e899ac5e837a2da560e62995625a46fc6b",
            expires: 1_700_021_600,
        }
    }

    fn envelope(channel: &str, allow_downgrade: bool) -> String {
        envelope_with(channel, allow_downgrade, Default::default())
    }

    fn envelope_with(
        channel: &str,
        allow_downgrade: bool,
        entitlements: driftless_wire::entitlements::Entitlements,
    ) -> String {
        let r = row();
        let a = Assignment {
            doc_type: "assignment".into(),
            install_id: r.install_id.into(),
            app: "acme".into(),
            channel: channel.into(),
            version: "1.2.3-rc.1".parse().unwrap(),
            release_digest: r.release_digest.parse().unwrap(),
            release_counter: 42,
            sequence: r.sequence,
            issued_at: 1_700_000_000,
            expires: r.expires,
            allow_downgrade,
            entitlements,
        };
        let env = Envelope::sign(
            ASSIGNMENT_PAYLOAD_TYPE,
            &serde_json::to_vec(&a).unwrap(),
            &[&generate_signing_key()],
        );
        serde_json::to_string(&env).unwrap()
    }

    #[test]
    fn an_assignment_rebuilds_byte_for_byte_from_a_small_blob() {
        for (channel, downgrade) in [("stable", false), ("beta", true)] {
            let text = envelope(channel, downgrade);
            let blob = compact(&text, &row()).unwrap();
            assert!(blob.len() < 160, "{} bytes", blob.len());
            let (rebuilt, etag) = expand_with_etag(&blob, &row()).unwrap();
            assert_eq!(rebuilt, text);
            assert_eq!(etag, Digest::of(text.as_bytes()).hex().to_string());
        }
    }

    #[test]
    fn entitlements_rebuild_byte_for_byte_and_none_keep_the_old_layout() {
        use driftless_wire::entitlements::Entitlement;
        let mut e = driftless_wire::entitlements::Entitlements::new();
        e.insert("max_users".into(), Entitlement::Int(50));
        e.insert("feature_sso".into(), Entitlement::Bool(true));
        e.insert("tier".into(), Entitlement::Str("gold \"plus\" é".into()));
        let text = envelope_with("stable", false, e);
        assert!(text.len() > envelope("stable", false).len());
        let blob = compact(&text, &row()).unwrap();
        assert_eq!(blob[0], LAYOUT_V2);
        assert_eq!(expand_with_etag(&blob, &row()).unwrap().0, text);
        for cut in [blob.len() - 1, blob.len() - 20] {
            assert!(expand(&blob[..cut], &row()).is_err(), "cut at {cut}");
        }
        // Without entitlements the payload has no such field: old documents keep
        // their bytes and their layout.
        let plain = envelope("stable", false);
        let payload = serde_json::from_str::<Envelope>(&plain)
            .unwrap()
            .payload_bytes()
            .unwrap();
        assert!(!String::from_utf8(payload).unwrap().contains("entitlements"));
        assert_eq!(compact(&plain, &row()).unwrap()[0], LAYOUT_V1);
    }

    #[test]
    fn an_envelope_that_does_not_rebuild_is_not_compacted() {
        let text = envelope("stable", false);
        // Another install's row: the payload does not match it.
        let other = RowFacts {
            install_id: "ins_2",
            ..row()
        };
        assert!(compact(&text, &other).is_none());
        // Re-serialised with other spacing: not the bytes that were signed over.
        let spaced = text.replace("\",\"", "\", \"");
        assert!(compact(&spaced, &row()).is_none());
        assert!(compact("not json", &row()).is_none());
    }

    #[test]
    fn a_stored_assignment_is_compacted_only_with_its_own_etag() {
        let r = row();
        let envelope = envelope("stable", false);
        let mut stored = StoredAssignment {
            sequence: r.sequence,
            release_digest: r.release_digest.into(),
            expires: r.expires,
            etag: Digest::of(envelope.as_bytes()).hex().to_string(),
            envelope,
        };
        let blob = compact_stored(r.install_id, &stored).unwrap();
        assert_eq!(
            expand_with_etag(&blob, &r).unwrap(),
            (stored.envelope.clone(), stored.etag.clone())
        );
        stored.etag = "other".into();
        assert!(compact_stored(r.install_id, &stored).is_none());
    }

    #[test]
    fn a_truncated_blob_is_an_error() {
        let blob = compact(&envelope("stable", false), &row()).unwrap();
        for cut in [0, 1, 10, blob.len() - 1] {
            assert!(expand(&blob[..cut], &row()).is_err(), "cut at {cut}");
        }
    }
}
