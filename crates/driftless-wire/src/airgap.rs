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

/// The fleet's id of the air-gapped host whose key is `public_key_hex`: receipts name
/// the license's install id, which every air-gapped host of the license shares.
pub fn airgap_install_id(public_key_hex: &str) -> String {
    let d = Digest::of(public_key_hex.as_bytes());
    format!("airgap-{}", &d.hex()[..20])
}

/// Answer of `POST /v1/receipts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptImported {
    /// The fleet's id of the air-gapped host.
    pub install_id: String,
    /// The receipt's sequence number.
    pub sequence: u64,
    /// Unix seconds the host wrote it.
    pub issued_at: i64,
}
