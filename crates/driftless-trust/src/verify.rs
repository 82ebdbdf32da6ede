//! The checks themselves.

use driftless_wire::release::{Assignment, ReleaseDocument};
use driftless_wire::root::{Role, RootDocument};
use driftless_wire::{
    Digest, Envelope, ASSIGNMENT_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE, ROOT_PAYLOAD_TYPE,
};

use crate::error::TrustError;
use crate::state::TrustState;

/// An assignment and release that passed every check, and the state to persist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The assignment.
    pub assignment: Assignment,
    /// The release it names.
    pub release: ReleaseDocument,
    /// The trust state after accepting both.
    pub next_state: TrustState,
}

/// The fingerprint customers pin: the digest of root version 1's payload bytes.
pub fn root_fingerprint(root_v1: &Envelope) -> Result<String, TrustError> {
    let bytes = root_v1.payload_bytes().map_err(|e| TrustError::Malformed {
        what: "root document",
        reason: e.to_string(),
    })?;
    Ok(Digest::of(&bytes).to_string())
}

fn decode<T: serde::de::DeserializeOwned>(
    env: &Envelope,
    payload_type: &str,
    what: &'static str,
) -> Result<T, TrustError> {
    env.decode(payload_type, what)
        .map_err(|e| TrustError::Malformed {
            what,
            reason: e.to_string(),
        })
}

fn require_threshold(
    env: &Envelope,
    root: &RootDocument,
    role: Role,
    what: &'static str,
) -> Result<(), TrustError> {
    let (keys, threshold) = root.role_keys(role);
    let got = env.verified_keyids(&keys).len();
    if got < threshold as usize {
        return Err(TrustError::Threshold {
            what,
            role: role.name(),
            got,
            need: threshold,
        });
    }
    Ok(())
}

fn require_fresh(what: &'static str, expires: i64, now: i64) -> Result<(), TrustError> {
    if now >= expires {
        return Err(TrustError::Expired { what, expires, now });
    }
    Ok(())
}

/// Verifies root version 1 against the pinned fingerprint and its own root keys.
pub fn verify_root_v1(
    env: &Envelope,
    pinned_fingerprint: &str,
    now: i64,
) -> Result<RootDocument, TrustError> {
    let found = root_fingerprint(env)?;
    if found != pinned_fingerprint {
        return Err(TrustError::FingerprintMismatch {
            pinned: pinned_fingerprint.to_string(),
            found,
        });
    }
    let root: RootDocument = decode(env, ROOT_PAYLOAD_TYPE, "root document")?;
    if root.version != 1 {
        return Err(TrustError::Mismatch {
            what: "pinned root version",
            expected: "1".into(),
            found: root.version.to_string(),
        });
    }
    require_threshold(env, &root, Role::Root, "root document")?;
    require_fresh("root document", root.expires, now)?;
    Ok(root)
}

/// Verifies root version N+1: signed by a threshold of N's root keys and of its own.
pub fn verify_root_update(
    current: &RootDocument,
    env: &Envelope,
    now: i64,
) -> Result<RootDocument, TrustError> {
    let next: RootDocument = decode(env, ROOT_PAYLOAD_TYPE, "root document")?;
    if next.version != current.version + 1 {
        return Err(TrustError::RootSkipped {
            current: current.version,
            got: next.version,
        });
    }
    require_threshold(env, current, Role::Root, "root document (old root keys)")?;
    require_threshold(env, &next, Role::Root, "root document (new root keys)")?;
    require_fresh("root document", next.expires, now)?;
    Ok(next)
}

/// Verifies an assignment for `install_id` of the app `state` is pinned to.
///
/// Refuses a forged, expired or replayed assignment, and one for another install or
/// another app; [`verify_release`] then checks the release document it names.
pub fn verify_assignment(
    state: &TrustState,
    install_id: &str,
    assignment_env: &Envelope,
    now: i64,
) -> Result<Assignment, TrustError> {
    let a = assignment_for(state, install_id, assignment_env)?;
    require_fresh("assignment", a.expires, now)?;
    if a.sequence < state.highest_sequence {
        return Err(TrustError::Rollback {
            what: "assignment",
            field: "sequence",
            got: a.sequence,
            highest: state.highest_sequence,
        });
    }
    Ok(a)
}

/// The assignment in `assignment_env`: signed by a threshold of director keys, for
/// `install_id` and the pinned app. Freshness and sequence rules are the caller's.
pub(crate) fn assignment_for(
    state: &TrustState,
    install_id: &str,
    assignment_env: &Envelope,
) -> Result<Assignment, TrustError> {
    require_threshold(assignment_env, &state.root, Role::Director, "assignment")?;
    let a: Assignment = decode(assignment_env, ASSIGNMENT_PAYLOAD_TYPE, "assignment")?;
    if a.install_id != install_id {
        return Err(TrustError::Mismatch {
            what: "assignment install id",
            expected: install_id.to_string(),
            found: a.install_id,
        });
    }
    require_pinned_app(state, "assignment", &a.app)?;
    Ok(a)
}

/// The release document `assignment` names: signed by a threshold of release keys, its
/// digest the one the assignment names, for the pinned app, and a pair with the
/// assignment. Freshness, floor and downgrade rules are the caller's.
pub(crate) fn release_named_by(
    state: &TrustState,
    assignment: &Assignment,
    release_env: &Envelope,
) -> Result<ReleaseDocument, TrustError> {
    require_threshold(release_env, &state.root, Role::Release, "release document")?;
    let payload = release_env
        .payload_bytes()
        .map_err(|e| TrustError::Malformed {
            what: "release document",
            reason: e.to_string(),
        })?;
    let digest = Digest::of(&payload);
    if digest != assignment.release_digest {
        return Err(TrustError::Mismatch {
            what: "release document digest named by the assignment",
            expected: assignment.release_digest.to_string(),
            found: digest.to_string(),
        });
    }
    let r: ReleaseDocument = decode(release_env, RELEASE_PAYLOAD_TYPE, "release document")?;
    require_pinned_app(state, "release document", &r.app)?;
    check_pair(assignment, &r)?;
    Ok(r)
}

/// Verifies the release document an already-verified assignment names.
///
/// Refuses a forged, expired or mismatched release, one of another app, one below the
/// rollback floor of a release already verified, and a downgrade without permission.
/// Returns the state to persist on success.
pub fn verify_release(
    state: &TrustState,
    assignment: &Assignment,
    release_env: &Envelope,
    now: i64,
) -> Result<Verified, TrustError> {
    let r = release_named_by(state, assignment, release_env)?;
    require_fresh("release document", r.expires, now)?;
    check_downgrade(state, assignment, &r)?;
    let raises_floor = r.rollback_floor > state.rollback_floor;
    let next_state = TrustState {
        root: state.root.clone(),
        app: state.app.clone(),
        highest_sequence: state.highest_sequence.max(assignment.sequence),
        highest_bundle_sequence: state.highest_bundle_sequence,
        highest_release_counter: state.highest_release_counter.max(r.release_counter),
        rollback_floor: state.rollback_floor.max(r.rollback_floor),
        rollback_floor_set_by: if raises_floor {
            Some(r.version.to_string())
        } else {
            state.rollback_floor_set_by.clone()
        },
    };
    Ok(Verified {
        assignment: assignment.clone(),
        release: r,
        next_state,
    })
}

/// Refuses a document naming another app than the one the host installed.
fn require_pinned_app(state: &TrustState, what: &'static str, app: &str) -> Result<(), TrustError> {
    if app != state.app {
        return Err(TrustError::WrongApp {
            what,
            pinned: state.app.clone(),
            found: app.to_string(),
        });
    }
    Ok(())
}

fn check_pair(a: &Assignment, r: &ReleaseDocument) -> Result<(), TrustError> {
    if r.app != a.app {
        return Err(TrustError::Mismatch {
            what: "release app",
            expected: a.app.clone(),
            found: r.app.clone(),
        });
    }
    if r.release_counter != a.release_counter {
        return Err(TrustError::Mismatch {
            what: "release counter named by the assignment",
            expected: a.release_counter.to_string(),
            found: r.release_counter.to_string(),
        });
    }
    if r.version != a.version {
        return Err(TrustError::Mismatch {
            what: "release version named by the assignment",
            expected: a.version.to_string(),
            found: r.version.to_string(),
        });
    }
    Ok(())
}

/// Refuses a release below the floor (whatever the assignment permits), then a lower
/// counter than accepted unless the assignment explicitly permits the downgrade.
fn check_downgrade(
    state: &TrustState,
    a: &Assignment,
    r: &ReleaseDocument,
) -> Result<(), TrustError> {
    if r.release_counter < state.rollback_floor {
        return Err(TrustError::BelowRollbackFloor {
            version: r.version.to_string(),
            target: r.release_counter,
            floor: state.rollback_floor,
            set_by: state.rollback_floor_set_by.clone(),
        });
    }
    if r.release_counter >= state.highest_release_counter {
        return Ok(());
    }
    if !a.allow_downgrade {
        return Err(TrustError::Rollback {
            what: "release document",
            field: "release counter",
            got: r.release_counter,
            highest: state.highest_release_counter,
        });
    }
    Ok(())
}
