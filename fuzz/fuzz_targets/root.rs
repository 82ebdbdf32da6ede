//! A root document: as root v1 against its own fingerprint, and as an update of the
//! fixed root v1. Odd first byte: the rest is a payload signed by root keys 1 and 2.
#![no_main]

use driftless_fuzz::{input, sign, world, Input, APP, NOW};
use driftless_trust::{root_fingerprint, verify_root_update, verify_root_v1, TrustState};
use driftless_wire::root::Role;
use driftless_wire::ROOT_PAYLOAD_TYPE;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let w = world();
    let env = match input(data) {
        Some(Input::Envelope(env)) => env,
        Some(Input::Payload(p)) => sign(ROOT_PAYLOAD_TYPE, p, &[&w.root_keys[0], &w.root_keys[1]]),
        None => return,
    };
    if let Ok(fp) = root_fingerprint(&env) {
        if let Ok(root) = verify_root_v1(&env, &fp, NOW) {
            assert_eq!(root.version, 1);
            for role in [Role::Root, Role::Release, Role::Director] {
                let (_, threshold) = root.role_keys(role);
                assert!(threshold >= 1);
            }
            let _ = TrustState::new(root, APP);
        }
    }
    if let Ok(next) = verify_root_update(&w.root_v1, &env, NOW) {
        assert_eq!(next.version, 2);
        assert!(next.expires > NOW);
    }
});
