//! `driftless rollback`: the customer goes back to a release this host verified and
//! ran before. The documents come from the host's own state directory, not the network,
//! so they are checked again for what can have changed since (the root's keys, the
//! rollback floor) and for what must always hold (signatures, the install, the app,
//! the pairing), but not for freshness.
//!
//! Not checked, on purpose: the expiry of the assignment (short by design: hours) and
//! of the release document, the assignment's sequence and its downgrade permission.
//! Expiry and sequences defend against a network attacker replaying or freezing old
//! documents; here nobody but the customer chooses, among documents this host accepted
//! when they were fresh. What the vendor uses to forbid going back, the rollback floor
//! signed by the release key, is enforced exactly as for a sync.

use driftless_wire::release::ReleaseDocument;
use driftless_wire::Envelope;

use crate::error::TrustError;
use crate::state::TrustState;
use crate::verify::{assignment_for, release_named_by};

/// Verifies a stored assignment and release document for a local rollback of
/// `install_id`: signed by a threshold of the director and release keys of the root
/// the host trusts now, for this install and its pinned app, paired, and not below the
/// rollback floor of any release the host verified. Returns the release document.
pub fn verify_local_rollback(
    state: &TrustState,
    install_id: &str,
    assignment_env: &Envelope,
    release_env: &Envelope,
) -> Result<ReleaseDocument, TrustError> {
    let a = assignment_for(state, install_id, assignment_env)?;
    let r = release_named_by(state, &a, release_env)?;
    if r.release_counter < state.rollback_floor {
        return Err(TrustError::BelowRollbackFloor {
            version: r.version.to_string(),
            target: r.release_counter,
            floor: state.rollback_floor,
            set_by: state.rollback_floor_set_by.clone(),
        });
    }
    Ok(r)
}
