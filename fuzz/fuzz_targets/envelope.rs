//! A DSSE envelope from the network: parse, decode the payload, count valid signatures
//! against root v1's keys, and decode it as each document kind.
#![no_main]

use driftless_fuzz::world;
use driftless_wire::release::{Assignment, ReleaseDocument};
use driftless_wire::root::RootDocument;
use driftless_wire::{Envelope, ASSIGNMENT_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE, ROOT_PAYLOAD_TYPE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(env) = serde_json::from_slice::<Envelope>(data) else {
        return;
    };
    let w = world();
    let _ = env.payload_bytes();
    let _ = env.signing_input();
    let good = env.verified_keyids(&w.trusted);
    // No key may count twice, and no id outside the trusted set may count.
    for (i, id) in good.iter().enumerate() {
        assert!(!good[..i].contains(id), "key {id} counted twice");
        assert!(
            w.trusted.iter().any(|(t, _)| t == id),
            "untrusted {id} counted"
        );
    }
    let _ = env.decode::<RootDocument>(ROOT_PAYLOAD_TYPE, "root document");
    let _ = env.decode::<ReleaseDocument>(RELEASE_PAYLOAD_TYPE, "release document");
    let _ = env.decode::<Assignment>(ASSIGNMENT_PAYLOAD_TYPE, "assignment");
    let _ = driftless_trust::root_fingerprint(&env);
});
