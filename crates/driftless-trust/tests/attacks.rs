//! One test per way a signed document can be wrong, each named after the attack.
#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_trust::{
    root_fingerprint, verify_assignment, verify_release, verify_root_update, verify_root_v1,
    TrustError, TrustState,
};
use driftless_wire::keys::{generate_signing_key, key_id_of};
use driftless_wire::release::{Assignment, DescriptorRef, HealthSpec, ReleaseDocument};
use driftless_wire::root::{Role, RoleKeys, RootDocument};
use driftless_wire::{
    Digest, Envelope, PublicKey, ASSIGNMENT_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE, ROOT_PAYLOAD_TYPE,
};
use ed25519_dalek::SigningKey;
use std::collections::BTreeMap;

const NOW: i64 = 1_800_000_000;

struct World {
    root_keys: Vec<SigningKey>,
    release: SigningKey,
    director: SigningKey,
    root: RootDocument,
    root_env: Envelope,
}

fn root_doc(
    version: u64,
    root_keys: &[&SigningKey],
    release: &SigningKey,
    director: &SigningKey,
) -> RootDocument {
    let mut keys = BTreeMap::new();
    let mut ids = |ks: &[&SigningKey]| {
        ks.iter()
            .map(|k| {
                let p = PublicKey::from_signing_key(k);
                keys.insert(p.key_id(), p.clone());
                p.key_id()
            })
            .collect::<Vec<_>>()
    };
    let root_ids = ids(root_keys);
    let release_ids = ids(&[release]);
    let director_ids = ids(&[director]);
    let mut roles = BTreeMap::new();
    roles.insert(
        Role::Root,
        RoleKeys {
            keyids: root_ids,
            threshold: 2,
        },
    );
    roles.insert(
        Role::Release,
        RoleKeys {
            keyids: release_ids,
            threshold: 1,
        },
    );
    roles.insert(
        Role::Director,
        RoleKeys {
            keyids: director_ids,
            threshold: 1,
        },
    );
    RootDocument {
        doc_type: "root".into(),
        version,
        expires: NOW + 365 * 86400,
        keys,
        roles,
        registry_token_cert_sha256: None,
    }
}

fn world() -> World {
    let root_keys: Vec<SigningKey> = (0..3).map(|_| generate_signing_key()).collect();
    let release = generate_signing_key();
    let director = generate_signing_key();
    let refs: Vec<&SigningKey> = root_keys.iter().collect();
    let root = root_doc(1, &refs, &release, &director);
    let root_env = Envelope::sign(
        ROOT_PAYLOAD_TYPE,
        &serde_json::to_vec(&root).unwrap(),
        &[&root_keys[0], &root_keys[1]],
    );
    World {
        root_keys,
        release,
        director,
        root,
        root_env,
    }
}

fn release_doc(counter: u64, floor: u64) -> ReleaseDocument {
    let d = Digest::of(b"compose");
    ReleaseDocument {
        doc_type: "release".into(),
        app: "acme".into(),
        version: semver::Version::new(counter, 0, 0),
        release_counter: counter,
        created_at: NOW - 10,
        expires: NOW + 86400,
        images: vec![],
        descriptor: DescriptorRef {
            repository: "acme/compose".into(),
            manifest_digest: d.clone(),
            digest: d,
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

fn sign_release(w: &World, r: &ReleaseDocument) -> Envelope {
    Envelope::sign(
        RELEASE_PAYLOAD_TYPE,
        &serde_json::to_vec(r).unwrap(),
        &[&w.release],
    )
}

fn assignment_for(env: &Envelope, r: &ReleaseDocument, seq: u64) -> Assignment {
    Assignment {
        doc_type: "assignment".into(),
        install_id: "inst-1".into(),
        app: "acme".into(),
        channel: "stable".into(),
        version: r.version.clone(),
        release_digest: Digest::of(&env.payload_bytes().unwrap()),
        release_counter: r.release_counter,
        sequence: seq,
        issued_at: NOW - 5,
        expires: NOW + 3600,
        allow_downgrade: false,
    }
}

fn sign_assignment(key: &SigningKey, a: &Assignment) -> Envelope {
    Envelope::sign(
        ASSIGNMENT_PAYLOAD_TYPE,
        &serde_json::to_vec(a).unwrap(),
        &[key],
    )
}

fn check(
    w: &World,
    state: &TrustState,
    a: &Envelope,
    r: &Envelope,
) -> Result<TrustState, TrustError> {
    let assignment = verify_assignment(state, "inst-1", a, NOW)?;
    Ok(verify_release(state, &assignment, r, NOW)?.next_state)
        .inspect(|_| assert_eq!(w.root.version, state.root.version))
}

fn accepted_state(w: &World, counter: u64, floor: u64, seq: u64) -> TrustState {
    let r = release_doc(counter, floor);
    let re = sign_release(w, &r);
    let ae = sign_assignment(&w.director, &assignment_for(&re, &r, seq));
    check(w, &TrustState::new(w.root.clone()), &ae, &re).expect("baseline accepted")
}

#[test]
fn a_good_assignment_and_release_are_accepted_and_raise_the_counters() {
    let w = world();
    let s = accepted_state(&w, 3, 2, 7);
    assert_eq!(
        (
            s.highest_sequence,
            s.highest_release_counter,
            s.rollback_floor
        ),
        (7, 3, 2)
    );
}

#[test]
fn root_v1_must_match_the_pinned_fingerprint() {
    let w = world();
    let fp = root_fingerprint(&w.root_env).unwrap();
    assert!(verify_root_v1(&w.root_env, &fp, NOW).is_ok());
    let other = world();
    let err = verify_root_v1(&other.root_env, &fp, NOW).unwrap_err();
    assert!(matches!(err, TrustError::FingerprintMismatch { .. }));
}

#[test]
fn root_below_threshold_is_refused_even_with_a_duplicate_signature() {
    let w = world();
    let payload = w.root_env.payload_bytes().unwrap();
    let mut env = Envelope::sign(ROOT_PAYLOAD_TYPE, &payload, &[&w.root_keys[0]]);
    let dup = env.signatures[0].clone();
    env.signatures.push(dup);
    let fp = root_fingerprint(&env).unwrap();
    let err = verify_root_v1(&env, &fp, NOW).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Threshold {
                got: 1,
                need: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn expired_root_is_refused() {
    let w = world();
    let fp = root_fingerprint(&w.root_env).unwrap();
    let err = verify_root_v1(&w.root_env, &fp, w.root.expires + 1).unwrap_err();
    assert!(matches!(err, TrustError::Expired { .. }));
}

#[test]
fn skipped_root_version_is_refused() {
    let w = world();
    let refs: Vec<&SigningKey> = w.root_keys.iter().collect();
    let v3 = root_doc(3, &refs, &w.release, &w.director);
    let env = Envelope::sign(
        ROOT_PAYLOAD_TYPE,
        &serde_json::to_vec(&v3).unwrap(),
        &[&w.root_keys[0], &w.root_keys[1]],
    );
    let err = verify_root_update(&w.root, &env, NOW).unwrap_err();
    assert_eq!(err, TrustError::RootSkipped { current: 1, got: 3 });
    let v2 = root_doc(2, &refs, &w.release, &w.director);
    let env = Envelope::sign(
        ROOT_PAYLOAD_TYPE,
        &serde_json::to_vec(&v2).unwrap(),
        &[&w.root_keys[0], &w.root_keys[2]],
    );
    assert_eq!(verify_root_update(&w.root, &env, NOW).unwrap().version, 2);
}

#[test]
fn assignment_signed_by_a_foreign_key_is_refused() {
    let w = world();
    let r = release_doc(1, 0);
    let re = sign_release(&w, &r);
    let ae = sign_assignment(&generate_signing_key(), &assignment_for(&re, &r, 1));
    let err = check(&w, &TrustState::new(w.root.clone()), &ae, &re).unwrap_err();
    assert!(matches!(
        err,
        TrustError::Threshold {
            role: "director",
            ..
        }
    ));
}

#[test]
fn release_signed_by_the_director_alone_is_refused() {
    // A compromised control plane holds the director key, not the release key.
    let w = world();
    let r = release_doc(1, 0);
    let re = Envelope::sign(
        RELEASE_PAYLOAD_TYPE,
        &serde_json::to_vec(&r).unwrap(),
        &[&w.director],
    );
    let ae = sign_assignment(&w.director, &assignment_for(&re, &r, 1));
    let err = check(&w, &TrustState::new(w.root.clone()), &ae, &re).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Threshold {
                role: "release",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn expired_assignment_is_refused_as_a_freeze() {
    let w = world();
    let r = release_doc(1, 0);
    let re = sign_release(&w, &r);
    let mut a = assignment_for(&re, &r, 1);
    a.expires = NOW - 1;
    let err = check(
        &w,
        &TrustState::new(w.root.clone()),
        &sign_assignment(&w.director, &a),
        &re,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        TrustError::Expired {
            what: "assignment",
            ..
        }
    ));
}

#[test]
fn replayed_assignment_with_a_lower_sequence_is_refused() {
    let w = world();
    let state = accepted_state(&w, 2, 0, 5);
    let r = release_doc(2, 0);
    let re = sign_release(&w, &r);
    let ae = sign_assignment(&w.director, &assignment_for(&re, &r, 4));
    let err = check(&w, &state, &ae, &re).unwrap_err();
    assert!(matches!(
        err,
        TrustError::Rollback {
            field: "sequence",
            got: 4,
            highest: 5,
            ..
        }
    ));
}

#[test]
fn older_release_without_downgrade_permission_is_refused() {
    let w = world();
    let state = accepted_state(&w, 3, 0, 5);
    let r = release_doc(2, 0);
    let re = sign_release(&w, &r);
    let ae = sign_assignment(&w.director, &assignment_for(&re, &r, 6));
    let err = check(&w, &state, &ae, &re).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Rollback {
                field: "release counter",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn permitted_downgrade_below_the_rollback_floor_is_refused() {
    let w = world();
    let state = accepted_state(&w, 5, 4, 5);
    for (target, ok) in [(3u64, false), (4, true)] {
        let r = release_doc(target, 0);
        let re = sign_release(&w, &r);
        let mut a = assignment_for(&re, &r, 6);
        a.allow_downgrade = true;
        let res = check(&w, &state, &sign_assignment(&w.director, &a), &re);
        assert_eq!(res.is_ok(), ok, "target {target}: {res:?}");
    }
}

#[test]
fn mix_and_match_release_is_refused() {
    let w = world();
    let r1 = release_doc(1, 0);
    let r2 = release_doc(2, 0);
    let re1 = sign_release(&w, &r1);
    let re2 = sign_release(&w, &r2);
    let ae = sign_assignment(&w.director, &assignment_for(&re1, &r1, 1));
    let err = check(&w, &TrustState::new(w.root.clone()), &ae, &re2).unwrap_err();
    assert!(matches!(err, TrustError::Mismatch { .. }), "{err}");
}

#[test]
fn assignment_for_another_install_is_refused() {
    let w = world();
    let r = release_doc(1, 0);
    let re = sign_release(&w, &r);
    let mut a = assignment_for(&re, &r, 1);
    a.install_id = "inst-2".into();
    let err = check(
        &w,
        &TrustState::new(w.root.clone()),
        &sign_assignment(&w.director, &a),
        &re,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        TrustError::Mismatch {
            what: "assignment install id",
            ..
        }
    ));
}

#[test]
fn unknown_key_ids_count_zero() {
    let w = world();
    let r = release_doc(1, 0);
    let mut re = sign_release(&w, &r);
    re.signatures[0].keyid = key_id_of(&generate_signing_key());
    let ae = sign_assignment(&w.director, &assignment_for(&re, &r, 1));
    let err = check(&w, &TrustState::new(w.root.clone()), &ae, &re).unwrap_err();
    assert!(matches!(err, TrustError::Threshold { got: 0, .. }));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn any_single_byte_change_to_a_release_document_is_rejected(pos in 0usize..4096, flip in 1u8..=255) {
        let w = world();
        let r = release_doc(1, 0);
        let re = sign_release(&w, &r);
        let ae = sign_assignment(&w.director, &assignment_for(&re, &r, 1));
        let mut bytes = re.payload_bytes().unwrap();
        let i = pos % bytes.len();
        bytes[i] ^= flip;
        let mut tampered = re.clone();
        tampered.payload = B64.encode(&bytes);
        proptest::prop_assert!(check(&w, &TrustState::new(w.root.clone()), &ae, &tampered).is_err());
    }
}
