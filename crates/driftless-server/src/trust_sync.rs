//! The trust state replicas share through the database: turning a stored
//! [`TrustState`] into the [`Keys`] a replica serves with, checking that its keys are
//! the ones its newest root trusts, and adopting a newer state without a restart.

use driftless_registry_token::TokenSigner;
use driftless_store::{StoreError, TrustState};
use driftless_wire::keys::key_id_of;
use driftless_wire::root::{Role, RootDocument};
use driftless_wire::{Envelope, ROOT_PAYLOAD_TYPE};
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use ed25519_dalek::SigningKey;
use sha2::{Digest as _, Sha256};

use crate::state::{AppState, Keys};

/// Why a trust state cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TrustStateError {
    /// The chain is empty or its length is not the version it claims.
    #[error("trust state of root version {version} holds {count} root documents")]
    Chain {
        /// The claimed version.
        version: u64,
        /// How many root documents it holds.
        count: usize,
    },
    /// A root document is not a signed root envelope.
    #[error("root version {version} is malformed: {reason}")]
    Root {
        /// Which root.
        version: usize,
        /// What is wrong.
        reason: String,
    },
    /// A key is unreadable or not one the newest root trusts.
    #[error("{what}")]
    Key {
        /// What is wrong, naming the key.
        what: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The keys and roots of `trust`, checked: every root parses, the director key is one
/// the newest root's director role names, and the registry-token certificate is the
/// one the newest root pins (when it pins one).
pub fn keys_from_trust(trust: &TrustState) -> Result<Keys, TrustStateError> {
    let roots = parse_roots(trust)?;
    let root = newest_root(&roots)?;
    let director = SigningKey::from_pkcs8_pem(trust.director_pem.trim()).map_err(|e| {
        TrustStateError::Key {
            what: format!("the director key is not an Ed25519 PKCS#8 PEM key: {e}"),
        }
    })?;
    let trusted = root
        .roles
        .get(&Role::Director)
        .is_some_and(|r| r.keyids.contains(&key_id_of(&director)));
    if !trusted {
        return Err(TrustStateError::Key {
            what: format!(
                "the director key is not one root version {} trusts (a rotation is half done?)",
                root.version
            ),
        });
    }
    if let Some(pinned) = &root.registry_token_cert_sha256 {
        let actual = hex::encode(Sha256::digest(trust.token_cert_pem.as_bytes()));
        if &actual != pinned {
            return Err(TrustStateError::Key {
                what: format!(
                    "the registry-token certificate is not the one root version {} pins (a rotation is half done?)",
                    root.version
                ),
            });
        }
    }
    let tokens =
        TokenSigner::from_pem(&trust.token_key_pem, &trust.token_cert_pem).map_err(|e| {
            TrustStateError::Key {
                what: format!("the registry-token key and certificate are not a pair: {e}"),
            }
        })?;
    let checkpoint = checkpoint_key(trust, &root)?;
    Ok(Keys {
        director,
        tokens,
        checkpoint,
        roots,
        root,
    })
}

/// The audit checkpoint key of `trust`, if it has one: it must be one the newest root's
/// checkpoint role names (a root that names none leaves checkpoints unsigned).
fn checkpoint_key(
    trust: &TrustState,
    root: &RootDocument,
) -> Result<Option<SigningKey>, TrustStateError> {
    let Some(pem) = &trust.checkpoint_pem else {
        return Ok(None);
    };
    let key = SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| TrustStateError::Key {
        what: format!("the audit checkpoint key is not an Ed25519 PKCS#8 PEM key: {e}"),
    })?;
    match &root.checkpoint {
        Some(role) if role.keyids.contains(&key_id_of(&key)) => Ok(Some(key)),
        Some(_) => Err(TrustStateError::Key {
            what: format!(
                "the audit checkpoint key is not one root version {} trusts (a rotation is half done?)",
                root.version
            ),
        }),
        None => Ok(None),
    }
}

fn parse_roots(trust: &TrustState) -> Result<Vec<Envelope>, TrustStateError> {
    if trust.roots.is_empty() || trust.roots.len() as u64 != trust.root_version {
        return Err(TrustStateError::Chain {
            version: trust.root_version,
            count: trust.roots.len(),
        });
    }
    trust
        .roots
        .iter()
        .enumerate()
        .map(|(i, text)| {
            serde_json::from_str(text).map_err(|e| TrustStateError::Root {
                version: i + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

fn newest_root(roots: &[Envelope]) -> Result<RootDocument, TrustStateError> {
    let version = roots.len();
    let newest = roots.last().ok_or(TrustStateError::Root {
        version,
        reason: "no root document".into(),
    })?;
    let root: RootDocument = newest
        .decode(ROOT_PAYLOAD_TYPE, "root document")
        .map_err(|e| TrustStateError::Root {
            version,
            reason: e.to_string(),
        })?;
    if root.version != version as u64 {
        return Err(TrustStateError::Root {
            version,
            reason: format!("it says it is version {}", root.version),
        });
    }
    Ok(root)
}

/// Puts the database's trust state in force if it is newer than the one serving now;
/// returns the version adopted, or `None` when nothing newer was there.
pub async fn adopt_newest_trust(state: &AppState) -> Result<Option<u64>, TrustStateError> {
    let serving = state.keys().root.version;
    if state.store.trust_version().await? <= serving {
        return Ok(None);
    }
    let Some(trust) = state.store.trust_state().await? else {
        return Ok(None);
    };
    let keys = keys_from_trust(&trust)?;
    let version = keys.root.version;
    if version <= serving {
        return Ok(None);
    }
    state.replace_keys(keys);
    Ok(Some(version))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use driftless_registry_token::generate_key_material;
    use driftless_wire::keys::generate_signing_key;
    use driftless_wire::root::RoleKeys;
    use driftless_wire::PublicKey;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;

    const NOW: i64 = 1_700_000_000;

    /// A trust state of root version 1 whose director role names `trusted`, signed by
    /// one root key, with `director` as the director key in force.
    fn state(trusted: &SigningKey, director: &SigningKey, pin_cert: bool) -> TrustState {
        let root_key = generate_signing_key();
        let material = generate_key_material("test", NOW).unwrap();
        let mut root = RootDocument {
            doc_type: "root".into(),
            version: 1,
            expires: NOW + 86400,
            keys: Default::default(),
            roles: Default::default(),
            registry_token_cert_sha256: pin_cert
                .then(|| hex::encode(Sha256::digest(material.cert_pem.as_bytes()))),
            checkpoint: None,
        };
        for (role, key) in [(Role::Root, &root_key), (Role::Director, trusted)] {
            let p = PublicKey::from_signing_key(key);
            root.roles.insert(
                role,
                RoleKeys {
                    keyids: vec![p.key_id()],
                    threshold: 1,
                },
            );
            root.keys.insert(p.key_id(), p);
        }
        let env = Envelope::sign(
            ROOT_PAYLOAD_TYPE,
            &serde_json::to_vec(&root).unwrap(),
            &[&root_key],
        );
        TrustState {
            root_version: 1,
            roots: vec![serde_json::to_string(&env).unwrap()],
            director_pem: director.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            token_key_pem: material.key_pem,
            token_cert_pem: material.cert_pem,
            checkpoint_pem: None,
        }
    }

    #[test]
    fn a_consistent_state_gives_its_keys() {
        let director = generate_signing_key();
        let keys = keys_from_trust(&state(&director, &director, true)).unwrap();
        assert_eq!(keys.root.version, 1);
        assert_eq!(keys.director.to_bytes(), director.to_bytes());
    }

    #[test]
    fn a_director_key_the_root_does_not_trust_is_refused() {
        let state = state(&generate_signing_key(), &generate_signing_key(), true);
        let err = keys_from_trust(&state).err().unwrap();
        assert!(
            err.to_string()
                .contains("director key is not one root version 1 trusts"),
            "{err}"
        );
    }

    #[test]
    fn a_token_certificate_other_than_the_pinned_one_is_refused() {
        let director = generate_signing_key();
        let mut state = state(&director, &director, true);
        let other = generate_key_material("other", NOW).unwrap();
        state.token_key_pem = other.key_pem;
        state.token_cert_pem = other.cert_pem;
        let err = keys_from_trust(&state).err().unwrap();
        assert!(
            err.to_string()
                .contains("certificate is not the one root version 1 pins"),
            "{err}"
        );
    }

    #[test]
    fn a_chain_shorter_than_its_version_is_refused() {
        let director = generate_signing_key();
        let mut state = state(&director, &director, false);
        state.root_version = 2;
        assert!(matches!(
            keys_from_trust(&state),
            Err(TrustStateError::Chain {
                version: 2,
                count: 1
            })
        ));
    }
}
