//! Check-in bodies: the request the server reads and the response the CLI reads, whose
//! envelopes then go through the verifier with the fixed trust state.
#![no_main]

use driftless_fuzz::{world, INSTALL_ID, NOW};
use driftless_trust::{verify_assignment, verify_release};
use driftless_wire::checkin::{CheckinRequest, CheckinResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<CheckinRequest>(data) {
        let again = serde_json::to_vec(&req).expect("a parsed request serialises");
        serde_json::from_slice::<CheckinRequest>(&again).expect("a request round-trips");
    }
    let Ok(resp) = serde_json::from_slice::<CheckinResponse>(data) else {
        return;
    };
    let _ = serde_json::to_vec(&resp).expect("a parsed response serialises");
    let w = world();
    let (Some(a), Some(r)) = (&resp.assignment, &resp.release) else {
        return;
    };
    if let Ok(a) = verify_assignment(&w.state, INSTALL_ID, a, NOW) {
        let _ = verify_release(&w.state, &a, r, NOW);
    }
});
