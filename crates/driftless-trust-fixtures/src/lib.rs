//! A fixed world of keys and signed documents for trust tests and fuzz targets: role
//! keys from fixed seeds (or fresh ones, for a world no other test shares), the root
//! document naming them, release documents and the assignments that name them, each
//! signed the way its role signs it. No I/O: callers decide what to store.
//!
//! The stored fixtures of `driftless-trust` are written from these builders, so a change
//! to what they build shows up there as a changed fixture file.

use std::collections::BTreeMap;

use driftless_wire::keys::{generate_signing_key, key_id_of};
use driftless_wire::release::{
    Assignment, DescriptorRef, HealthSpec, ReleaseDocument, ReleaseImage,
};
use driftless_wire::root::{Role, RoleKeys, RootDocument};
use driftless_wire::{
    Digest, Envelope, PublicKey, ASSIGNMENT_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE, ROOT_PAYLOAD_TYPE,
};
use ed25519_dalek::SigningKey;

/// The clock every document is checked at, Unix seconds.
pub const NOW: i64 = 1_800_000_000;
/// The install every assignment is for.
pub const INSTALL_ID: &str = "inst-1";
/// The app that install was installed for, and every release document's app.
pub const APP: &str = "acme";
/// Another app of the same vendor, signed by the same release key.
pub const OTHER_APP: &str = "globex";
/// One day in seconds.
pub const DAY: i64 = 86_400;
/// One (non-leap) year in seconds: how long a root or a release document lives.
pub const YEAR: i64 = 365 * DAY;

/// The signing key whose 32 secret bytes are all `seed`.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The keys of every role, and a foreign key no root names.
#[derive(Clone)]
pub struct Keys {
    /// The root keys; any two of them sign a root document.
    pub root: [SigningKey; 3],
    /// The vendor's release key.
    pub release: SigningKey,
    /// The control plane's director key.
    pub director: SigningKey,
    /// A key the root never names (an attacker's).
    pub foreign: SigningKey,
}

impl Keys {
    /// Keys from fixed seeds: root 1, 2, 3, release 4, director 5, foreign 6.
    pub fn fixed() -> Keys {
        Keys {
            root: [key(1), key(2), key(3)],
            release: key(4),
            director: key(5),
            foreign: key(6),
        }
    }

    /// Fresh random keys, for a world whose signatures no other world accepts.
    pub fn random() -> Keys {
        Keys {
            root: [
                generate_signing_key(),
                generate_signing_key(),
                generate_signing_key(),
            ],
            release: generate_signing_key(),
            director: generate_signing_key(),
            foreign: generate_signing_key(),
        }
    }

    /// Root document `version` naming these keys, expiring at `expires` (see [`root_doc`]).
    pub fn root_doc(&self, version: u64, expires: i64) -> RootDocument {
        root_doc(&self.root, &self.release, &self.director, version, expires)
    }

    /// A release (`counter`, `floor`) signed by the release key, and a director-signed
    /// assignment with `sequence` naming it: `(assignment, release)`.
    pub fn pair(&self, counter: u64, floor: u64, sequence: u64) -> (Envelope, Envelope) {
        let r = release_doc(counter, floor);
        let re = sign_release(&r, &[&self.release]);
        let a = assignment(&re, &r, sequence);
        (sign_assignment(&a, &[&self.director]), re)
    }
}

/// A root document of `version` naming the root keys (threshold 2), the release key and
/// the director key (threshold 1 each), expiring at `expires`.
pub fn root_doc(
    root: &[SigningKey; 3],
    release: &SigningKey,
    director: &SigningKey,
    version: u64,
    expires: i64,
) -> RootDocument {
    let all = [&root[0], &root[1], &root[2], release, director];
    let keys = all
        .iter()
        .map(|k| (key_id_of(k), PublicKey::from_signing_key(k)))
        .collect();
    let role = |ks: &[&SigningKey], threshold: u32| RoleKeys {
        keyids: ks.iter().map(|k| key_id_of(k)).collect(),
        threshold,
    };
    let roles = BTreeMap::from([
        (Role::Root, role(&[&root[0], &root[1], &root[2]], 2)),
        (Role::Release, role(&[release], 1)),
        (Role::Director, role(&[director], 1)),
    ]);
    RootDocument {
        doc_type: "root".into(),
        version,
        expires,
        keys,
        roles,
        registry_token_cert_sha256: None,
        checkpoint: None,
    }
}

/// A release document of app [`APP`], version `1.<counter>.0`, with one image and a
/// descriptor whose digests differ per `counter`, unexpired for a year from [`NOW`].
pub fn release_doc(counter: u64, floor: u64) -> ReleaseDocument {
    release_doc_of(APP, counter, floor)
}

/// [`release_doc`] of another `app`: its repositories are under `<app>/`.
pub fn release_doc_of(app: &str, counter: u64, floor: u64) -> ReleaseDocument {
    ReleaseDocument {
        doc_type: "release".into(),
        app: app.into(),
        version: semver::Version::new(1, counter, 0),
        release_counter: counter,
        created_at: NOW - DAY + i64::try_from(counter).unwrap_or(i64::MAX),
        expires: NOW + YEAR,
        images: vec![ReleaseImage {
            service: "web".into(),
            repository: format!("{app}/web"),
            digest: Digest::of(format!("{app}/web {counter}").as_bytes()),
            platforms: vec!["linux/amd64".into()],
            size: 10_000_000,
        }],
        descriptor: DescriptorRef {
            repository: format!("{app}/compose"),
            manifest_digest: Digest::of(format!("manifest {counter}").as_bytes()),
            digest: Digest::of(format!("compose {counter}").as_bytes()),
            size: 512,
        },
        config_schema: vec![],
        health: HealthSpec::default(),
        min_cli_version: semver::Version::new(0, 1, 0),
        rollback_floor: floor,
        cli: vec![],
        notes: None,
        urgent: false,
        migrations: Default::default(),
        preflight: Default::default(),
        sboms: Vec::new(),
    }
}

/// A release document of `app` at `version` as the control plane's tests publish it:
/// an image per service of `services` and the descriptor, each in the release's own
/// repositories (`<app>/r<counter>/…`), made at `now`, unexpired for a day.
pub fn published_release(
    app: &str,
    version: &semver::Version,
    counter: u64,
    services: &[&str],
    now: i64,
) -> ReleaseDocument {
    let image = |service: &&str| ReleaseImage {
        service: (*service).into(),
        repository: format!("{app}/r{counter}/{service}"),
        digest: Digest::of(format!("{service}-{version}").as_bytes()),
        platforms: vec!["linux/amd64".into()],
        size: 1024,
    };
    ReleaseDocument {
        version: version.clone(),
        release_counter: counter,
        created_at: now,
        expires: now + DAY,
        images: services.iter().map(image).collect(),
        descriptor: DescriptorRef {
            repository: format!("{app}/r{counter}/compose"),
            manifest_digest: Digest::of(b"manifest"),
            digest: Digest::of(b"compose"),
            size: 7,
        },
        ..release_doc_of(app, counter, 0)
    }
}

/// An assignment of `r` to [`INSTALL_ID`] on `stable` with `sequence`, naming the exact
/// payload of `release`; issued a minute before [`NOW`], valid an hour, no downgrade.
pub fn assignment(release: &Envelope, r: &ReleaseDocument, sequence: u64) -> Assignment {
    // An undecodable payload (a test's deliberate garbage) is named by the empty digest.
    let payload = release.payload_bytes().unwrap_or_default();
    Assignment {
        doc_type: "assignment".into(),
        install_id: INSTALL_ID.into(),
        app: r.app.clone(),
        channel: "stable".into(),
        version: r.version.clone(),
        release_digest: Digest::of(&payload),
        release_counter: r.release_counter,
        sequence,
        issued_at: NOW - 60,
        expires: NOW + 3600,
        allow_downgrade: false,
        entitlements: Default::default(),
    }
}

/// `value` as compact JSON, the bytes a signer signs.
pub fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // These documents are plain structs with string map keys: serialising cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// `doc` signed by `signers` as a root document.
pub fn sign_root(doc: &RootDocument, signers: &[&SigningKey]) -> Envelope {
    Envelope::sign(ROOT_PAYLOAD_TYPE, &json(doc), signers)
}

/// `doc` signed by `signers` as a release document.
pub fn sign_release(doc: &ReleaseDocument, signers: &[&SigningKey]) -> Envelope {
    Envelope::sign(RELEASE_PAYLOAD_TYPE, &json(doc), signers)
}

/// `doc` signed by `signers` as an assignment.
pub fn sign_assignment(doc: &Assignment, signers: &[&SigningKey]) -> Envelope {
    Envelope::sign(ASSIGNMENT_PAYLOAD_TYPE, &json(doc), signers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_keys_are_the_documented_seeds_and_random_ones_differ() {
        let k = Keys::fixed();
        assert_eq!(k.release.to_bytes(), [4; 32]);
        assert_eq!(k.foreign.to_bytes(), [6; 32]);
        assert_ne!(
            Keys::random().release.to_bytes(),
            Keys::random().release.to_bytes()
        );
    }

    #[test]
    fn an_assignment_names_the_exact_release_payload() {
        let k = Keys::fixed();
        let (a, r) = k.pair(2, 1, 3);
        let a: Assignment = serde_json::from_slice(&a.payload_bytes().unwrap()).unwrap();
        assert_eq!(a.release_digest, Digest::of(&r.payload_bytes().unwrap()));
        assert_eq!((a.release_counter, a.sequence), (2, 3));
    }
}
