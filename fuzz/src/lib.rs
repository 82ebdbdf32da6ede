//! The fixed world every fuzz target verifies against: the keys, root v1 and documents
//! of `driftless-trust-fixtures`, a trust state whose counters were already raised, and
//! a signed release, so a fuzzed document can get past the signature checks and reach
//! the semantic ones.

use std::sync::OnceLock;

use driftless_trust::TrustState;
use driftless_trust_fixtures::{sign_release, Keys, YEAR};
use driftless_wire::release::{Assignment, ReleaseDocument};
use driftless_wire::root::RootDocument;
use driftless_wire::{Envelope, KeyId, PublicKey};
use ed25519_dalek::SigningKey;

pub use driftless_trust_fixtures::{json, release_doc, APP, INSTALL_ID, NOW};

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
    /// Pinned to app `acme`; sequence 5, release counter 5 and rollback floor 3 already accepted.
    pub state: TrustState,
    /// A release (counter 6) validly signed by the release key.
    pub release_env: Envelope,
}

/// The shared world, built once per process.
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let keys = Keys::fixed();
        let root_v1 = keys.root_doc(1, NOW + YEAR);
        let trusted = root_v1
            .keys
            .iter()
            .map(|(id, k)| (id.clone(), k.clone()))
            .collect();
        let state = TrustState {
            highest_sequence: 5,
            highest_release_counter: 5,
            rollback_floor: 3,
            rollback_floor_set_by: Some("1.5.0".into()),
            ..TrustState::new(root_v1.clone(), APP)
        };
        let release_env = sign_release(&release_doc(6, 4), &[&keys.release]);
        World {
            root_keys: keys.root,
            release: keys.release,
            director: keys.director,
            root_v1,
            trusted,
            state,
            release_env,
        }
    })
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
    driftless_trust_fixtures::root_doc(root_keys, release, director, version, NOW + YEAR)
}

/// An assignment naming the release in `release_env`, whose fields are `r`'s, that
/// permits a downgrade, so the target reaches the rollback-floor check.
pub fn assignment_for(release_env: &Envelope, r: &ReleaseDocument, sequence: u64) -> Assignment {
    Assignment {
        allow_downgrade: true,
        ..driftless_trust_fixtures::assignment(release_env, r, sequence)
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
