//! The root document: which keys hold which role, and how many must sign.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::keys::{KeyId, PublicKey};

/// The roles a root document names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Signs root documents.
    Root,
    /// Signs release documents (held by vendor CI).
    Release,
    /// Signs per-install assignments (held by the control plane).
    Director,
    /// Signs checkpoints of the audit log (held by the control plane). Listed in the
    /// root's own `checkpoint` field, not in `roles`: a CLI built before this role
    /// refuses a root whose `roles` names a role it does not know.
    Checkpoint,
}

impl Role {
    /// The role's name as written in documents.
    pub fn name(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::Release => "release",
            Role::Director => "director",
            Role::Checkpoint => "checkpoint",
        }
    }
}

/// The keys of one role and how many of them must sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleKeys {
    /// Key ids allowed to sign for the role.
    pub keyids: Vec<KeyId>,
    /// Minimum number of distinct valid signatures.
    pub threshold: u32,
}

/// The signed root document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootDocument {
    /// Always `root`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// Starts at 1; each rotation adds exactly one.
    pub version: u64,
    /// Unix seconds after which this root must not be trusted.
    pub expires: i64,
    /// Every key any role uses, by id.
    pub keys: BTreeMap<KeyId, PublicKey>,
    /// The keys and threshold of each role.
    pub roles: BTreeMap<Role, RoleKeys>,
    /// The fingerprint (SHA-256) of the registry-token certificate, for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_token_cert_sha256: Option<String>,
    /// The keys and threshold of the [`Role::Checkpoint`] role; absent in roots made
    /// before audit checkpoints existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<RoleKeys>,
}

impl RootDocument {
    /// The trusted keys of `role`, with their ids.
    pub fn role_keys(&self, role: Role) -> (Vec<(KeyId, PublicKey)>, u32) {
        let listed = match role {
            Role::Checkpoint => self.checkpoint.as_ref(),
            _ => self.roles.get(&role),
        };
        let Some(rk) = listed else {
            return (Vec::new(), u32::MAX);
        };
        let keys = rk
            .keyids
            .iter()
            .filter_map(|id| self.keys.get(id).map(|k| (id.clone(), k.clone())))
            .collect();
        (keys, rk.threshold.max(1))
    }
}
