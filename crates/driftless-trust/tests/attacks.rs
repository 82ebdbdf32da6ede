//! One test per way a signed document can be wrong, each named after the attack.
#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_trust::{
    root_fingerprint, verify_assignment, verify_release, verify_root_update, verify_root_v1,
    TrustError, TrustState,
};
use driftless_trust_fixtures::{
    assignment, release_doc, release_doc_of, sign_assignment, sign_release, sign_root, Keys, APP,
    INSTALL_ID, NOW, OTHER_APP, YEAR,
};
use driftless_wire::keys::key_id_of;
use driftless_wire::release::{Assignment, ReleaseDocument};
use driftless_wire::root::RootDocument;
use driftless_wire::{Envelope, ROOT_PAYLOAD_TYPE};
use ed25519_dalek::SigningKey;

/// Fresh keys, root v1 naming them, and that root signed by two root keys.
struct World {
    keys: Keys,
    root: RootDocument,
    root_env: Envelope,
}

fn world() -> World {
    let keys = Keys::random();
    let root = keys.root_doc(1, NOW + YEAR);
    let root_env = sign_root(&root, &[&keys.root[0], &keys.root[1]]);
    World {
        keys,
        root,
        root_env,
    }
}

fn sign_release_by(w: &World, r: &ReleaseDocument) -> Envelope {
    sign_release(r, &[&w.keys.release])
}

fn sign_assignment_by(key: &SigningKey, a: &Assignment) -> Envelope {
    sign_assignment(a, &[key])
}

fn check(
    w: &World,
    state: &TrustState,
    a: &Envelope,
    r: &Envelope,
) -> Result<TrustState, TrustError> {
    let assignment = verify_assignment(state, INSTALL_ID, a, NOW)?;
    Ok(verify_release(state, &assignment, r, NOW)?.next_state)
        .inspect(|_| assert_eq!(w.root.version, state.root.version))
}

fn accepted_state(w: &World, counter: u64, floor: u64, seq: u64) -> TrustState {
    let r = release_doc(counter, floor);
    let re = sign_release_by(w, &r);
    let ae = sign_assignment_by(&w.keys.director, &assignment(&re, &r, seq));
    check(w, &TrustState::new(w.root.clone(), APP), &ae, &re).expect("baseline accepted")
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
    let mut env = Envelope::sign(ROOT_PAYLOAD_TYPE, &payload, &[&w.keys.root[0]]);
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
    let v3 = w.keys.root_doc(3, NOW + YEAR);
    let env = sign_root(&v3, &[&w.keys.root[0], &w.keys.root[1]]);
    let err = verify_root_update(&w.root, &env, NOW).unwrap_err();
    assert_eq!(err, TrustError::RootSkipped { current: 1, got: 3 });
    let v2 = w.keys.root_doc(2, NOW + YEAR);
    let env = sign_root(&v2, &[&w.keys.root[0], &w.keys.root[2]]);
    assert_eq!(verify_root_update(&w.root, &env, NOW).unwrap().version, 2);
}

#[test]
fn assignment_signed_by_a_foreign_key_is_refused() {
    let w = world();
    let r = release_doc(1, 0);
    let re = sign_release_by(&w, &r);
    let ae = sign_assignment_by(&w.keys.foreign, &assignment(&re, &r, 1));
    let err = check(&w, &TrustState::new(w.root.clone(), APP), &ae, &re).unwrap_err();
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
    let re = sign_release(&r, &[&w.keys.director]);
    let ae = sign_assignment_by(&w.keys.director, &assignment(&re, &r, 1));
    let err = check(&w, &TrustState::new(w.root.clone(), APP), &ae, &re).unwrap_err();
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
    let re = sign_release_by(&w, &r);
    let mut a = assignment(&re, &r, 1);
    a.expires = NOW - 1;
    let err = check(
        &w,
        &TrustState::new(w.root.clone(), APP),
        &sign_assignment_by(&w.keys.director, &a),
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
    let re = sign_release_by(&w, &r);
    let ae = sign_assignment_by(&w.keys.director, &assignment(&re, &r, 4));
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
    let re = sign_release_by(&w, &r);
    let ae = sign_assignment_by(&w.keys.director, &assignment(&re, &r, 6));
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
        let re = sign_release_by(&w, &r);
        let mut a = assignment(&re, &r, 6);
        a.allow_downgrade = true;
        let res = check(&w, &state, &sign_assignment_by(&w.keys.director, &a), &re);
        assert_eq!(res.is_ok(), ok, "target {target}: {res:?}");
    }
}

/// `r` and a director-signed assignment naming it with `sequence`, downgrade allowed.
fn permitted_pair(w: &World, r: &ReleaseDocument, sequence: u64) -> (Envelope, Envelope) {
    let re = sign_release_by(w, r);
    let mut a = assignment(&re, r, sequence);
    a.allow_downgrade = true;
    (sign_assignment_by(&w.keys.director, &a), re)
}

#[test]
fn the_highest_rollback_floor_is_kept_with_the_release_that_set_it() {
    let w = world();
    let state = accepted_state(&w, 3, 2, 1);
    assert_eq!(
        (state.rollback_floor, state.rollback_floor_set_by.as_deref()),
        (2, Some("1.3.0"))
    );
    // A newer release with a lower floor does not lower it.
    let (ae, re) = permitted_pair(&w, &release_doc(4, 1), 2);
    let next = check(&w, &state, &ae, &re).unwrap();
    assert_eq!(
        (next.rollback_floor, next.rollback_floor_set_by.as_deref()),
        (2, Some("1.3.0"))
    );
}

#[test]
fn release_below_the_floor_is_refused_with_what_set_the_floor() {
    let w = world();
    let state = accepted_state(&w, 3, 2, 1);
    let (ae, re) = permitted_pair(&w, &release_doc(1, 0), 2);
    let err = check(&w, &state, &ae, &re).unwrap_err();
    assert_eq!(
        err,
        TrustError::BelowRollbackFloor {
            version: "1.1.0".into(),
            target: 1,
            floor: 2,
            set_by: Some("1.3.0".into())
        }
    );
    assert_eq!(
        err.to_string(),
        "refusing release 1.1.0 (release counter 1): it is below the rollback floor (release counter 2) set by release 1.3.0, which this host verified"
    );
    assert!(err.hint().unwrap().contains("release counter 2 or newer"));
}

#[test]
fn release_below_the_floor_is_refused_even_when_it_is_not_a_downgrade() {
    // A floor above the release's own counter (publish and the control plane refuse
    // one; a stolen release key need not) still holds for every later release.
    let w = world();
    let state = accepted_state(&w, 3, 5, 1);
    let (ae, re) = permitted_pair(&w, &release_doc(4, 0), 2);
    let err = check(&w, &state, &ae, &re).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::BelowRollbackFloor {
                target: 4,
                floor: 5,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn mix_and_match_app_is_refused() {
    // The director key alone (a compromised control plane) signs an assignment for
    // this install naming another app's genuine release.
    let w = world();
    let r = release_doc_of(OTHER_APP, 1, 0);
    let re = sign_release_by(&w, &r);
    let ae = sign_assignment_by(&w.keys.director, &assignment(&re, &r, 1));
    let err = check(&w, &TrustState::new(w.root.clone(), APP), &ae, &re).unwrap_err();
    assert_eq!(
        err,
        TrustError::WrongApp {
            what: "assignment",
            pinned: APP.into(),
            found: OTHER_APP.into()
        }
    );
    assert_eq!(
        err.to_string(),
        "assignment is for app `globex`, but this host installed app `acme`; refusing it"
    );
    assert!(err.hint().is_some());
}

#[test]
fn mix_and_match_app_release_is_refused() {
    let w = world();
    let r = release_doc_of(OTHER_APP, 1, 0);
    let re = sign_release_by(&w, &r);
    let mut a = assignment(&re, &r, 1);
    a.app = APP.into();
    let ae = sign_assignment_by(&w.keys.director, &a);
    let err = check(&w, &TrustState::new(w.root.clone(), APP), &ae, &re).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::WrongApp {
                what: "release document",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_state_pinned_to_no_app_accepts_none() {
    let w = world();
    let r = release_doc(1, 0);
    let re = sign_release_by(&w, &r);
    let ae = sign_assignment_by(&w.keys.director, &assignment(&re, &r, 1));
    let err = check(&w, &TrustState::new(w.root.clone(), ""), &ae, &re).unwrap_err();
    assert!(matches!(err, TrustError::WrongApp { .. }), "{err}");
}

#[test]
fn mix_and_match_release_is_refused() {
    let w = world();
    let r1 = release_doc(1, 0);
    let r2 = release_doc(2, 0);
    let re1 = sign_release_by(&w, &r1);
    let re2 = sign_release_by(&w, &r2);
    let ae = sign_assignment_by(&w.keys.director, &assignment(&re1, &r1, 1));
    let err = check(&w, &TrustState::new(w.root.clone(), APP), &ae, &re2).unwrap_err();
    assert!(matches!(err, TrustError::Mismatch { .. }), "{err}");
}

#[test]
fn a_raised_entitlement_in_the_assignment_bytes_is_refused() {
    use driftless_wire::entitlements::Entitlement;
    let w = world();
    let r = release_doc(1, 0);
    let re = sign_release_by(&w, &r);
    let mut a = assignment(&re, &r, 1);
    a.entitlements
        .insert("max_users".into(), Entitlement::Int(50));
    let signed = sign_assignment_by(&w.keys.director, &a);
    let state = TrustState::new(w.root.clone(), APP);
    let good = verify_assignment(&state, INSTALL_ID, &signed, NOW).unwrap();
    assert_eq!(good.entitlements["max_users"], Entitlement::Int(50));
    // The host (or anyone on the way) edits the signed bytes: 50 users become 5000.
    let text = String::from_utf8(signed.payload_bytes().unwrap()).unwrap();
    assert!(text.contains(r#""max_users":50"#), "{text}");
    let mut tampered = signed.clone();
    tampered.payload = B64.encode(text.replace(r#""max_users":50"#, r#""max_users":5000"#));
    assert!(check(&w, &state, &tampered, &re).is_err());
    // Dropping the field does not pass either.
    let mut dropped = signed.clone();
    dropped.payload = B64.encode(text.replace(r#","entitlements":{"max_users":50}"#, ""));
    assert_ne!(dropped.payload, signed.payload);
    assert!(check(&w, &state, &dropped, &re).is_err());
}

#[test]
fn assignment_for_another_install_is_refused() {
    let w = world();
    let r = release_doc(1, 0);
    let re = sign_release_by(&w, &r);
    let mut a = assignment(&re, &r, 1);
    a.install_id = "inst-2".into();
    let err = check(
        &w,
        &TrustState::new(w.root.clone(), APP),
        &sign_assignment_by(&w.keys.director, &a),
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
    let mut re = sign_release_by(&w, &r);
    re.signatures[0].keyid = key_id_of(&w.keys.foreign);
    let ae = sign_assignment_by(&w.keys.director, &assignment(&re, &r, 1));
    let err = check(&w, &TrustState::new(w.root.clone(), APP), &ae, &re).unwrap_err();
    assert!(matches!(err, TrustError::Threshold { got: 0, .. }));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn any_single_byte_change_to_a_release_document_is_rejected(pos in 0usize..4096, flip in 1u8..=255) {
        let w = world();
        let r = release_doc(1, 0);
        let re = sign_release_by(&w, &r);
        let ae = sign_assignment_by(&w.keys.director, &assignment(&re, &r, 1));
        let mut bytes = re.payload_bytes().unwrap();
        let i = pos % bytes.len();
        bytes[i] ^= flip;
        let mut tampered = re.clone();
        tampered.payload = B64.encode(&bytes);
        proptest::prop_assert!(check(&w, &TrustState::new(w.root.clone(), APP), &ae, &tampered).is_err());
    }
}
