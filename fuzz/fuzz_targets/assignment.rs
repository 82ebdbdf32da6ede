//! An assignment against the fixed trust state (sequence 5 accepted), then the release
//! it names. Odd first byte: the rest is a payload signed by the director key.
#![no_main]

use driftless_fuzz::{input, sign, world, Input, INSTALL_ID, NOW};
use driftless_trust::{verify_assignment, verify_release};
use driftless_wire::ASSIGNMENT_PAYLOAD_TYPE;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let w = world();
    let env = match input(data) {
        Some(Input::Envelope(env)) => env,
        Some(Input::Payload(p)) => sign(ASSIGNMENT_PAYLOAD_TYPE, p, &[&w.director]),
        None => return,
    };
    let Ok(a) = verify_assignment(&w.state, INSTALL_ID, &env, NOW) else {
        return;
    };
    assert_eq!(a.install_id, INSTALL_ID);
    assert!(a.expires > NOW && a.sequence >= w.state.highest_sequence);
    if let Ok(v) = verify_release(&w.state, &a, &w.release_env, NOW) {
        assert_eq!(v.release.release_counter, a.release_counter);
        assert!(v.next_state.highest_sequence >= a.sequence);
    }
});
