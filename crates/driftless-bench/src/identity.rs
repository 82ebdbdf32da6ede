//! Simulated installs' identities, derived from a seed and an index so `run` recomputes
//! the keys `seed` registered without storing a million of them.

use ed25519_dalek::SigningKey;
use sha2::{Digest as _, Sha256};

/// One simulated install: its id and Ed25519 key.
pub struct Identity {
    /// `ins_` and 32 hex digits, the shape registration gives.
    pub id: String,
    /// Its key.
    pub key: SigningKey,
}

/// Install `index` of the fleet seeded with `seed`.
pub fn identity(seed: u64, index: u64) -> Identity {
    let digest = |what: &str| Sha256::digest(format!("driftless-bench {what}\n{seed}\n{index}"));
    let id = format!("ins_{}", &hex::encode(digest("id"))[..32]);
    let key = SigningKey::from_bytes(&digest("key").into());
    Identity { id, key }
}

/// The indices of `active` installs spread evenly over `installs`, so a run touches the
/// whole database and not only its first rows.
pub fn active_indices(installs: u64, active: u64) -> Vec<u64> {
    let active = active.min(installs);
    (0..active)
        .map(|j| (u128::from(j) * u128::from(installs) / u128::from(active.max(1))) as u64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_deterministic_and_distinct() {
        let a = identity(1, 7);
        assert_eq!(a.id, identity(1, 7).id);
        assert_eq!(a.key.to_bytes(), identity(1, 7).key.to_bytes());
        assert_ne!(a.id, identity(1, 8).id);
        assert_ne!(a.id, identity(2, 7).id);
        assert_ne!(a.key.to_bytes(), identity(2, 7).key.to_bytes());
        assert_eq!(a.id.len(), 36);
    }

    #[test]
    fn active_installs_spread_over_the_fleet() {
        assert_eq!(active_indices(10, 5), [0, 2, 4, 6, 8]);
        assert_eq!(active_indices(3, 5), [0, 1, 2]);
        assert_eq!(active_indices(1_000_000, 2), [0, 500_000]);
    }
}
