//! The fixed world every fuzz target verifies against: keys from fixed seeds, a root
//! v1, a trust state whose counters were already raised, and a signed release, so a
//! fuzzed document can get past the signature checks and reach the semantic ones.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use driftless_trust::TrustState;
use driftless_wire::keys::key_id_of;
use driftless_wire::release::{Assignment, DescriptorRef, HealthSpec, ReleaseDocument};
use driftless_wire::root::{Role, RoleKeys, RootDocument};
use driftless_wire::{Digest, Envelope, KeyId, PublicKey, RELEASE_PAYLOAD_TYPE};
use ed25519_dalek::SigningKey;

/// The clock every target verifies at, Unix seconds.
pub const NOW: i64 = 1_800_000_000;
/// The install every assignment must be for.
pub const INSTALL_ID: &str = "inst-1";

/// The keys, root and state the targets share.
pub struct World {
    /// Root keys (threshold 2 of 3).
    pub root_keys: [SigningKey; 3],
    /// The release key.
    pub release: SigningKey,
    /// The director key.
    pub director: SigningKey,
    /// Root version 1.
    pub root_v1: RootDocument,
    /// Every key of root v1, with its id, as `verified_keyids` takes them.
    pub trusted: Vec<(KeyId, PublicKey)>,
    /// Sequence 5, release counter 5 and rollback floor 3 already accepted.
    pub state: TrustState,
    /// A release (counter 6) validly signed by the release key.
    pub release_env: Envelope,
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The shared world, built once per process.
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let root_keys = [key(1), key(2), key(3)];
        let (release, director) = (key(4), key(5));
        let root_v1 = root_doc(&root_keys, &release, &director, 1);
        let trusted = root_v1
            .keys
            .iter()
            .map(|(id, k)| (id.clone(), k.clone()))
            .collect();
        let state = TrustState {
            root: root_v1.clone(),
            highest_sequence: 5,
            highest_release_counter: 5,
            rollback_floor: 3,
        };
        let release_env = sign(RELEASE_PAYLOAD_TYPE, &json(&release_doc(6, 4)), &[&release]);
        World {
            root_keys,
            release,
            director,
            root_v1,
            trusted,
            state,
            release_env,
        }
    })
}

/// `value` as compact JSON.
pub fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail: no maps with non-string keys.
    serde_json::to_vec(value).unwrap_or_default()
}

/// An envelope around `payload` signed by `keys`.
pub fn sign(payload_type: &str, payload: &[u8], keys: &[&SigningKey]) -> Envelope {
    Envelope::sign(payload_type, payload, keys)
}

/// A root document of `version` naming the given keys; root threshold 2.
pub fn root_doc(
    root_keys: &[SigningKey; 3],
    release: &SigningKey,
    director: &SigningKey,
    version: u64,
) -> RootDocument {
    let all = [
        &root_keys[0],
        &root_keys[1],
        &root_keys[2],
        release,
        director,
    ];
    let keys = all
        .iter()
        .map(|k| (key_id_of(k), PublicKey::from_signing_key(k)))
        .collect();
    let ids = |ks: &[&SigningKey]| ks.iter().map(|k| key_id_of(k)).collect();
    let roles = BTreeMap::from([
        (
            Role::Root,
            RoleKeys {
                keyids: ids(&[&root_keys[0], &root_keys[1], &root_keys[2]]),
                threshold: 2,
            },
        ),
        (
            Role::Release,
            RoleKeys {
                keyids: ids(&[release]),
                threshold: 1,
            },
        ),
        (
            Role::Director,
            RoleKeys {
                keyids: ids(&[director]),
                threshold: 1,
            },
        ),
    ]);
    RootDocument {
        doc_type: "root".into(),
        version,
        expires: NOW + 365 * 86400,
        keys,
        roles,
        registry_token_cert_sha256: None,
    }
}

/// A plausible release document with `counter` and `floor`.
pub fn release_doc(counter: u64, floor: u64) -> ReleaseDocument {
    ReleaseDocument {
        doc_type: "release".into(),
        app: "acme".into(),
        version: semver::Version::new(1, counter, 0),
        release_counter: counter,
        created_at: NOW - 86400,
        expires: NOW + 86400,
        images: vec![driftless_wire::release::ReleaseImage {
            service: "web".into(),
            repository: "acme/web".into(),
            digest: Digest::of(b"web"),
            platforms: vec!["linux/amd64".into()],
            size: 1000,
        }],
        descriptor: DescriptorRef {
            repository: "acme/compose".into(),
            manifest_digest: Digest::of(b"manifest"),
            digest: Digest::of(b"compose"),
            size: 7,
        },
        config_schema: vec![],
        health: HealthSpec::default(),
        min_cli_version: semver::Version::new(0, 1, 0),
        rollback_floor: floor,
        cli: vec![],
        notes: None,
    }
}

/// An assignment naming the release in `release_env`, whose fields are `r`'s.
pub fn assignment_for(release_env: &Envelope, r: &ReleaseDocument, sequence: u64) -> Assignment {
    Assignment {
        doc_type: "assignment".into(),
        install_id: INSTALL_ID.into(),
        app: r.app.clone(),
        channel: "stable".into(),
        version: r.version.clone(),
        release_digest: Digest::of(&release_env.payload_bytes().unwrap_or_default()),
        release_counter: r.release_counter,
        sequence,
        issued_at: NOW - 60,
        expires: NOW + 3600,
        allow_downgrade: true,
    }
}

/// How a target reads its input: the first byte picks the form of the rest.
pub enum Input<'a> {
    /// Even first byte: the rest is an envelope as JSON, signatures and all.
    Envelope(Envelope),
    /// Odd first byte: the rest is a payload the target signs with the right keys, so
    /// the fuzzer reaches the checks that follow the signature check.
    Payload(&'a [u8]),
}

/// Splits `data` into its form; `None` when it is empty or not an envelope.
pub fn input(data: &[u8]) -> Option<Input<'_>> {
    let (&mode, rest) = data.split_first()?;
    if mode % 2 == 1 {
        return Some(Input::Payload(rest));
    }
    serde_json::from_slice(rest).ok().map(Input::Envelope)
}
