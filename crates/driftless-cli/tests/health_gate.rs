//! The health gate on the real Docker Engine: a release whose service starts, looks
//! fine and crashes a second later must be rolled back every time, whatever the
//! machine's load, because a service without a healthcheck counts as ready only after
//! it stayed up for the release's settle window.
//!
//! Needs `cargo build --bins` first (scripts/test does).
#![allow(clippy::unwrap_used)]

use driftless_exit::code::RUNTIME;
use driftless_test_support::images::FAILING_IMAGE_MESSAGE;
use driftless_test_support::process::{assert_exit, stderr};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::world::World;

#[test]
fn a_release_whose_service_crashes_a_second_after_start_is_rolled_back() {
    let w = World::new("crash-1s");
    w.release("1.0.0", Spec::default());
    w.install("h");
    w.sync_ok("h");
    w.assert_runs("h", "1.0.0");

    w.release(
        "2.0.0",
        Spec {
            crashing_web_after_s: Some(1),
            ..Spec::default()
        },
    );
    let out = w.sync("h");
    assert_exit(
        &out,
        RUNTIME,
        "sync of a release whose web crashes after 1 s",
    );
    let err = stderr(&out);
    assert!(err.contains("service web is not healthy"), "{err}");
    assert!(
        err.contains("exited with code 1") || err.contains("restart"),
        "{err}"
    );
    assert!(
        err.contains(FAILING_IMAGE_MESSAGE),
        "the log tail names why: {err}"
    );

    w.assert_runs("h", "1.0.0");
    let status = w.status("h");
    assert_eq!(status["reason"]["code"], "health_failed", "{status}");
    assert_eq!(status["held_back"], "2.0.0", "{status}");
}
