//! End to end: rollback floors that hold. `publish --rollback-floor` signs the floor
//! into the release; a host that verified it refuses to go below it even when the
//! control plane permits the downgrade (an abort), keeps running what it runs, and
//! reports `below_rollback_floor`, which the fleet shows; the operator is warned when
//! an abort or a yank crosses the floor. Needs `cargo build --bins` first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use driftless_exit::code::{BELOW_ROLLBACK_FLOOR, INVALID_INPUT};
use driftless_test_support::process::{
    assert_exit, assert_refused_with_hint, assert_success, stderr, stdout,
};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::world::World;
use serde_json::Value;

/// `host`'s trust state as it is stored.
fn trust_state(w: &World, host: &str) -> Vec<u8> {
    std::fs::read(w.state_dir(host).join("trust").join("trust.json")).unwrap()
}

#[test]
fn a_host_on_3_0_0_with_floor_2_0_0_refuses_an_abort_to_1_0_0_and_the_fleet_shows_why() {
    let w = World::new("floor");
    w.release("1.0.0", Spec::default());
    let id = w.install("h");
    w.sync_ok("h");
    w.publish_built("2.0.0", Spec::default());

    // The floor must be a release of the app; a refusal uploads nothing.
    let compose = w.build("3.0.0", Spec::default());
    let compose_arg = compose.to_string_lossy().into_owned();
    let publish = [
        "publish",
        "--app",
        &w.app,
        "--version",
        "3.0.0",
        "--compose",
        &compose_arg,
        "--rollback-floor",
    ];
    let out = w.vendor(&[&publish[..], &["9.9.9"]].concat());
    assert_exit(
        &out,
        INVALID_INPUT,
        "publish with a floor that is no release",
    );
    assert!(stderr(&out).contains("\n\nhint: "), "{}", stderr(&out));
    assert!(
        w.stack.release(&w.app, "3.0.0").is_err(),
        "3.0.0 was uploaded"
    );

    w.vendor_ok(&[&publish[..], &["2.0.0"]].concat());
    let floor = w.release_document("2.0.0")["release_counter"].clone();
    assert_eq!(w.release_document("3.0.0")["rollback_floor"], floor);
    w.vendor_ok(&[
        "rollout",
        "start",
        "--app",
        &w.app,
        "--channel",
        "stable",
        "--version",
        "3.0.0",
        "--waves",
        "100%",
    ]);
    w.sync_ok("h");
    w.assert_runs("h", "3.0.0");
    let trust: Value = serde_json::from_slice(&trust_state(&w, "h")).unwrap();
    assert_eq!(
        trust["rollback_floor"], floor,
        "the floor is persisted: {trust}"
    );
    assert_eq!(trust["rollback_floor_set_by"], "3.0.0", "{trust}");

    // The operator aborts: the channel points at 1.0.0 again, below 3.0.0's floor.
    let out = w.vendor(&["rollout", "abort", "--app", &w.app, "--channel", "stable"]);
    assert_success(&out, "rollout abort");
    let aborted: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(aborted["state"], "aborted", "{aborted}");
    assert_eq!(
        aborted["floor_warning"]["floor_version"], "2.0.0",
        "{aborted}"
    );
    assert_eq!(aborted["floor_warning"]["to_version"], "1.0.0", "{aborted}");
    let warning = stderr(&out);
    assert!(
        warning.lines().any(|l| l.starts_with("warning: ")
            && l.contains("refuse to go back to 1.0.0")
            && l.contains("rollback floor 2.0.0")),
        "{warning}"
    );

    let before = w.running_containers("h");
    let trust_before = trust_state(&w, "h");
    let out = w.sync("h");
    assert_refused_with_hint(
        &out,
        BELOW_ROLLBACK_FLOOR,
        "sync assigned a release below the floor",
    );
    let text = stderr(&out);
    assert!(
        text.contains("refusing release 1.0.0")
            && text.contains("set by release 3.0.0, which this host verified"),
        "{text}"
    );
    assert_eq!(
        w.running_containers("h"),
        before,
        "the running app was touched"
    );
    w.assert_runs("h", "3.0.0");
    assert_eq!(
        trust_state(&w, "h"),
        trust_before,
        "the trust state changed"
    );
    let status = w.status("h");
    assert_eq!(status["reason"]["code"], "below_rollback_floor", "{status}");

    let row = w.fleet_row(&id);
    assert_eq!(row["reason"]["code"], "below_rollback_floor", "{row}");
    assert_eq!(row["current_version"], "3.0.0", "{row}");
    assert_eq!(row["desired_version"], "1.0.0", "{row}");
    assert!(
        row["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("failed:below_rollback_floor")),
        "{row}"
    );

    // Promoted and then yanked, 3.0.0 sends the channel back to 1.0.0: a warning too.
    w.promote("3.0.0", "stable");
    let out = w.vendor(&["release", "yank", "--app", &w.app, "--version", "3.0.0"]);
    assert_success(&out, "release yank");
    assert!(
        stderr(&out).lines().any(|l| l.starts_with("warning: ")
            && l.contains("that verified 3.0.0 will refuse to go back to 1.0.0")),
        "{}",
        stderr(&out)
    );
}
