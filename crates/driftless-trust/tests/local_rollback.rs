//! `driftless rollback` re-verifies a release the host verified before: expiry and
//! sequences do not matter any more, signatures, the install, the app and the floor do.
#![allow(clippy::unwrap_used)]

use driftless_trust::{verify_local_rollback, TrustError, TrustState};
use driftless_trust_fixtures::{
    assignment, release_doc, release_doc_of, sign_assignment, sign_release, Keys, APP, INSTALL_ID,
    NOW, OTHER_APP, YEAR,
};
use driftless_wire::Envelope;

fn state(keys: &Keys, floor: u64) -> TrustState {
    let mut s = TrustState::new(keys.root_doc(1, NOW + YEAR), APP);
    s.highest_release_counter = 5;
    s.highest_sequence = 9;
    s.rollback_floor = floor;
    s.rollback_floor_set_by = Some("1.5.0".into());
    s
}

/// Release `counter` and an assignment naming it that expired long ago, with a low
/// sequence and no downgrade permission.
fn stale_pair(keys: &Keys, counter: u64) -> (Envelope, Envelope) {
    let mut r = release_doc(counter, 0);
    r.expires = NOW - 10;
    let re = sign_release(&r, &[&keys.release]);
    let mut a = assignment(&re, &r, 1);
    a.expires = NOW - 3600;
    (sign_assignment(&a, &[&keys.director]), re)
}

#[test]
fn an_expired_release_this_host_ran_is_accepted_for_a_rollback() {
    let keys = Keys::random();
    let (a, r) = stale_pair(&keys, 3);
    let doc = verify_local_rollback(&state(&keys, 2), INSTALL_ID, &a, &r).unwrap();
    assert_eq!(doc.release_counter, 3);
}

#[test]
fn a_rollback_below_the_floor_is_refused() {
    let keys = Keys::random();
    let (a, r) = stale_pair(&keys, 3);
    let err = verify_local_rollback(&state(&keys, 4), INSTALL_ID, &a, &r).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::BelowRollbackFloor {
                target: 3,
                floor: 4,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_release_signed_by_a_key_the_root_no_longer_names_is_refused() {
    let keys = Keys::random();
    let (a, r) = stale_pair(&keys, 3);
    // The root the host trusts now names other release and director keys.
    let rotated = Keys::random();
    let err = verify_local_rollback(&state(&rotated, 0), INSTALL_ID, &a, &r).unwrap_err();
    assert!(matches!(err, TrustError::Threshold { .. }), "{err}");
}

#[test]
fn a_release_of_another_app_is_refused() {
    let keys = Keys::random();
    let r = release_doc_of(OTHER_APP, 3, 0);
    let re = sign_release(&r, &[&keys.release]);
    let ae = sign_assignment(&assignment(&re, &r, 1), &[&keys.director]);
    let err = verify_local_rollback(&state(&keys, 0), INSTALL_ID, &ae, &re).unwrap_err();
    assert!(matches!(err, TrustError::WrongApp { .. }), "{err}");
}

#[test]
fn a_release_document_swapped_under_its_assignment_is_refused() {
    let keys = Keys::random();
    let (a, _) = stale_pair(&keys, 3);
    let (_, other) = stale_pair(&keys, 2);
    let err = verify_local_rollback(&state(&keys, 0), INSTALL_ID, &a, &other).unwrap_err();
    assert!(matches!(err, TrustError::Mismatch { .. }), "{err}");
}

#[test]
fn another_installs_assignment_is_refused() {
    let keys = Keys::random();
    let r = release_doc(3, 0);
    let re = sign_release(&r, &[&keys.release]);
    let mut a = assignment(&re, &r, 1);
    a.install_id = "ins_other".into();
    let ae = sign_assignment(&a, &[&keys.director]);
    let err = verify_local_rollback(&state(&keys, 0), INSTALL_ID, &ae, &re).unwrap_err();
    assert!(matches!(err, TrustError::Mismatch { .. }), "{err}");
}
