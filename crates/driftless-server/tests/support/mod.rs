//! A control plane's state over a given store, with fresh keys and a one-key root.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use driftless_registry_token::{generate_key_material, TokenSigner};
use driftless_server::{AppState, Keys, ServerConfig};
use driftless_store::Store;
use driftless_wire::keys::generate_signing_key;
use driftless_wire::root::{Role, RoleKeys, RootDocument};
use driftless_wire::{Envelope, PublicKey, ROOT_PAYLOAD_TYPE};
use sha2::{Digest as _, Sha256};

/// The operator token the state accepts.
pub const OPERATOR_TOKEN: &str = "dlop_test_operator_token";

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// State over `store` serving at most `max_in_flight` requests at once.
pub fn state(store: Arc<dyn Store>, max_in_flight: usize) -> AppState {
    state_with_key(store, max_in_flight).0
}

/// [`state`], and the one key that holds every role of its root (so a test can sign
/// releases with it).
pub fn state_with_key(
    store: Arc<dyn Store>,
    max_in_flight: usize,
) -> (AppState, ed25519_dalek::SigningKey) {
    configured_state_with_key(store, |config| config.max_in_flight = max_in_flight)
}

/// State over `store` with the settings `configure` leaves.
#[allow(dead_code)] // Not every test binary that shares this module uses it.
pub fn configured_state(
    store: Arc<dyn Store>,
    configure: impl FnOnce(&mut ServerConfig),
) -> AppState {
    configured_state_with_key(store, configure).0
}

fn configured_state_with_key(
    store: Arc<dyn Store>,
    configure: impl FnOnce(&mut ServerConfig),
) -> (AppState, ed25519_dalek::SigningKey) {
    let t = now();
    let key = generate_signing_key();
    let public = PublicKey::from_signing_key(&key);
    let mut keys = BTreeMap::new();
    let mut roles = BTreeMap::new();
    for role in [Role::Root, Role::Release, Role::Director] {
        let keyids = vec![public.key_id()];
        roles.insert(
            role,
            RoleKeys {
                keyids,
                threshold: 1,
            },
        );
    }
    keys.insert(public.key_id(), public.clone());
    let root = RootDocument {
        doc_type: "root".into(),
        version: 1,
        expires: t + 86400,
        keys,
        roles,
        registry_token_cert_sha256: None,
        checkpoint: Some(RoleKeys {
            keyids: vec![public.key_id()],
            threshold: 1,
        }),
    };
    let envelope = Envelope::sign(
        ROOT_PAYLOAD_TYPE,
        &serde_json::to_vec(&root).unwrap(),
        &[&key],
    );
    let material = generate_key_material("driftless test", t).unwrap();
    let keys = Keys {
        checkpoint: Some(key.clone()),
        director: key.clone(),
        tokens: TokenSigner::from_pem(&material.key_pem, &material.cert_pem).unwrap(),
        roots: vec![envelope],
        root,
    };
    let mut config = ServerConfig {
        assignment_lifetime_s: 3600,
        rollout_tick_s: 3600,
        ..ServerConfig::new(
            "127.0.0.1:5000",
            true,
            hex::encode(Sha256::digest(OPERATOR_TOKEN.as_bytes())),
        )
    };
    configure(&mut config);
    (AppState::new(store, keys, config), key)
}
