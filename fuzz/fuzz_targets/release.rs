//! A release document against the fixed trust state (counter 5, floor 3 accepted).
//! Odd first byte: the rest is a payload signed by the release key, paired with a
//! director-signed assignment that names it, so the downgrade checks are reached.
#![no_main]

use driftless_fuzz::{assignment_for, input, release_doc, sign, world, Input, NOW};
use driftless_trust::verify_release;
use driftless_wire::release::ReleaseDocument;
use driftless_wire::RELEASE_PAYLOAD_TYPE;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let w = world();
    let env = match input(data) {
        Some(Input::Envelope(env)) => env,
        Some(Input::Payload(p)) => sign(RELEASE_PAYLOAD_TYPE, p, &[&w.release]),
        None => return,
    };
    let named = env
        .payload_bytes()
        .ok()
        .and_then(|b| serde_json::from_slice::<ReleaseDocument>(&b).ok())
        .unwrap_or_else(|| release_doc(6, 0));
    let assignment = assignment_for(&env, &named, 6);
    if let Ok(v) = verify_release(&w.state, &assignment, &env, NOW) {
        let r = &v.release;
        assert!(r.expires > NOW);
        assert!(r.release_counter >= w.state.rollback_floor);
        assert_eq!(r.app, w.state.app, "a release of another app was accepted");
        assert!(v.next_state.highest_release_counter >= w.state.highest_release_counter);
        let _ = r.repositories();
        let _ = r.images.iter().map(|i| i.pinned()).count();
    }
});
