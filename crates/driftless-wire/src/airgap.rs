//! Air-gapped installs: the assignment a vendor orders for a license's bundle, and the
//! install id such an install goes by (it never registers, so the id comes from its key).

use serde::{Deserialize, Serialize};

use crate::{Digest, Envelope};

/// Body of `POST /v1/licenses/{id}/bundle-assignment`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleAssignmentRequest {
    /// The release the bundle carries.
    pub version: String,
    /// Unix seconds after which a host refuses the bundle; the vendor chooses it.
    pub expires: i64,
}

/// Answer of `POST /v1/licenses/{id}/bundle-assignment`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleAssignmentResponse {
    /// The director-signed assignment for [`license_install_id`] of the license.
    pub assignment: Envelope,
    /// The newest root version the control plane holds.
    pub root_version: u64,
}

/// The install id of every air-gapped install of the license whose key hashes (hex
/// SHA-256) to `key_hash`: what a bundle's assignment names.
pub fn license_install_id(key_hash: &str) -> String {
    format!("license-{key_hash}")
}

/// [`license_install_id`] of a license key, as the host computes it.
pub fn license_install_id_of_key(license_key: &str) -> String {
    license_install_id(Digest::of(license_key.trim().as_bytes()).hex())
}
