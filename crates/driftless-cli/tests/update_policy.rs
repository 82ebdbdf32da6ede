//! End to end: the customer decides when a new release is applied. Under `approve` a
//! new release is verified and pulled but not started until `driftless approve`; under
//! `window` it waits for a weekly window in the host's time zone. The fleet shows the
//! policy and what waits. Needs `cargo build --bins` first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use driftless_exit::code::INVALID_INPUT;
use driftless_test_support::process::{assert_refused_with_hint, assert_success, stderr, stdout};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::world::World;
use serde_json::Value;

/// Whether every image of `version` is in the engine (pulled by digest).
fn images_pulled(w: &World, host: &str, version: &str) -> bool {
    let registry = std::fs::read_to_string(
        w.state_dir(host)
            .join("releases")
            .join(version)
            .join("registry"),
    )
    .unwrap_or_default();
    let doc = w.release_document(version);
    let images = doc["images"].as_array().unwrap();
    assert!(!images.is_empty(), "{doc}");
    images.iter().all(|i| {
        let r = format!(
            "{}/{}@{}",
            registry.trim(),
            i["repository"].as_str().unwrap(),
            i["digest"].as_str().unwrap()
        );
        Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", &r])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// `driftless args…` on `host` with the host's time zone `tz` and the window check's
/// clock set to `now` (RFC 3339).
fn at(w: &World, host: &str, tz: &str, now: &str, args: &[&str]) -> Output {
    w.cli(host)
        .env("TZ", tz)
        .env("DRIFTLESS_TEST_NOW", now)
        .args(args)
        .output()
        .unwrap()
}

/// `policy show --json` of `host`.
fn policy(w: &World, host: &str) -> Value {
    let out = w.driftless(host, &["policy", "show", "--json"]);
    assert_success(&out, "policy show --json");
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn under_approve_a_new_release_is_pulled_but_waits_for_approve_which_applies_it() {
    let w = World::new("approve");
    w.release("1.0.0", Spec::default());
    let id = w.install("h");
    w.sync_ok("h");
    w.assert_runs("h", "1.0.0");
    assert_success(
        &w.driftless("h", &["policy", "set", "approve"]),
        "policy set approve",
    );
    assert_eq!(policy(&w, "h")["mode"], "approve");

    let compose = w.build("2.0.0", Spec::default());
    w.publish_app(&w.app, "2.0.0", &compose, &["--urgent"]);
    assert_eq!(w.release_document("2.0.0")["urgent"], true, "signed urgent");
    w.promote("2.0.0", "stable");

    let out = w.sync_ok("h");
    let said = stderr(&out);
    assert!(
        said.contains("2.0.0") && said.contains("urgent") && said.contains("driftless approve"),
        "{said}"
    );
    w.assert_runs("h", "1.0.0");
    assert!(images_pulled(&w, "h", "2.0.0"), "2.0.0 was not pulled");
    let status = w.status("h");
    assert_eq!(status["reason"]["code"], "waiting_for_approval", "{status}");
    assert_eq!(status["policy"]["waiting"]["version"], "2.0.0", "{status}");
    assert_eq!(status["policy"]["waiting"]["urgent"], true, "{status}");
    let row = w.fleet_row(&id);
    assert_eq!(row["reason"]["code"], "waiting_for_approval", "{row}");
    assert_eq!(row["policy"], "approve", "{row}");
    assert_eq!(row["waiting"]["version"], "2.0.0", "{row}");
    assert_eq!(row["waiting"]["urgent"], true, "{row}");
    assert_eq!(row["current_version"], "1.0.0", "{row}");
    let table = w.vendor_ok(&["fleet", "--app", &w.app]);
    assert!(
        table.contains("approve (2.0.0 urgent)") && table.contains("waiting_for_approval"),
        "{table}"
    );

    // Drift of what runs is repaired while 2.0.0 waits: that is no new release.
    let web = w.container_of("h", "web");
    assert_success(
        &Command::new("docker")
            .args(["rm", "-f", &web])
            .output()
            .unwrap(),
        "docker rm",
    );
    w.sync_ok("h");
    w.assert_runs("h", "1.0.0");
    assert_eq!(w.status("h")["policy"]["waiting"]["version"], "2.0.0");
    let text = stdout(&w.driftless("h", &["status"]));
    assert!(
        text.contains("policy    approve") && text.contains("waiting   release 2.0.0"),
        "{text}"
    );

    // Approving another version is refused and changes nothing.
    let out = w.driftless("h", &["approve", "9.9.9"]);
    assert_refused_with_hint(
        &out,
        INVALID_INPUT,
        "approve of a version that does not wait",
    );
    assert!(stderr(&out).contains("2.0.0 waits"), "{}", stderr(&out));
    assert!(!w.state_dir("h").join("approval.json").exists());
    w.assert_runs("h", "1.0.0");

    let out = w.driftless("h", &["approve"]);
    assert_success(&out, "approve");
    assert!(
        stderr(&out).contains("converged on 2.0.0"),
        "{}",
        stderr(&out)
    );
    w.assert_runs("h", "2.0.0");
    let status = w.status("h");
    assert!(status["policy"]["waiting"].is_null(), "{status}");
    assert!(status["reason"].is_null(), "{status}");
    let row = w.fleet_row(&id);
    assert_eq!(row["current_version"], "2.0.0", "{row}");
    assert!(row["waiting"].is_null() && row["reason"].is_null(), "{row}");

    let out = w.driftless("h", &["approve", "2.0.0"]);
    assert_refused_with_hint(&out, INVALID_INPUT, "approve of the running release");
}

#[test]
fn under_window_a_new_release_waits_outside_the_window_in_the_hosts_time_zone() {
    let w = World::new("window");
    w.release("1.0.0", Spec::default());
    let id = w.install("h");
    w.sync_ok("h");

    for (args, names) in [
        (
            &["policy", "set", "window", "Sab 02:00-04:00"][..],
            "unknown day `Sab`",
        ),
        (
            &["policy", "set", "window", "Sat 02:00-25:00"][..],
            "`25:00`",
        ),
        (&["policy", "set", "window"][..], "needs the windows"),
        (
            &["policy", "set", "approve", "Sat 02:00-04:00"][..],
            "takes no windows",
        ),
    ] {
        let out = w.driftless("h", args);
        assert_refused_with_hint(&out, INVALID_INPUT, &format!("{args:?}"));
        assert!(stderr(&out).contains(names), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(
        policy(&w, "h")["mode"],
        "auto",
        "a refusal changed the policy"
    );

    // Central European time, UTC+1: the window is 01:00-03:00 UTC.
    let tz = "CET-1";
    assert_success(
        &w.driftless("h", &["policy", "set", "window", "Sat 02:00-04:00"]),
        "policy set window",
    );
    w.release("2.0.0", Spec::default());

    // Saturday 03:30 UTC is 04:30 in the host's zone: after the window.
    let out = at(&w, "h", tz, "2026-12-05T03:30:00Z", &["sync"]);
    assert_success(&out, "sync outside the window");
    assert!(
        stderr(&out).contains("update window opening Sat 2026-12-12 02:00 CET"),
        "{}",
        stderr(&out)
    );
    w.assert_runs("h", "1.0.0");
    assert!(images_pulled(&w, "h", "2.0.0"), "2.0.0 was not pulled");
    let row = w.fleet_row(&id);
    assert_eq!(row["reason"]["code"], "waiting_for_window", "{row}");
    assert_eq!(row["policy"], "window Sat 02:00-04:00", "{row}");
    assert_eq!(row["waiting"]["next_window_at"], 1_797_037_200, "{row}");
    let shown = at(
        &w,
        "h",
        tz,
        "2026-12-05T03:30:00Z",
        &["policy", "show", "--json"],
    );
    let shown: Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(shown["window_open"], false, "{shown}");
    assert_eq!(shown["waiting"]["waits_for"], "window", "{shown}");

    // The agent honours the same gate.
    let agent = ["agent", "--max-syncs", "1", "--initial-jitter-secs", "0"];
    let out = at(&w, "h", tz, "2026-12-05T03:30:00Z", &agent);
    assert_success(&out, "agent outside the window");
    assert!(
        stderr(&out).contains(
            "running 1.0.0; release 2.0.0 is downloaded and verified; it waits for the update window"
        ),
        "{}",
        stderr(&out)
    );
    w.assert_runs("h", "1.0.0");

    // Saturday 02:30 UTC is 03:30 in the host's zone: inside.
    let out = at(&w, "h", tz, "2026-12-05T02:30:00Z", &agent);
    assert_success(&out, "agent inside the window");
    assert!(
        stderr(&out).contains("converged on 2.0.0"),
        "{}",
        stderr(&out)
    );
    w.assert_runs("h", "2.0.0");
    let row = w.fleet_row(&id);
    assert!(row["waiting"].is_null() && row["reason"].is_null(), "{row}");
}
