//! End to end: an upgrade from 1.0.0 to 2.0.0 killed at each crash point of a debug
//! build (`DRIFTLESS_CRASH_AT`) leaves a host that runs one of the two releases, an
//! untouched config.toml and a journal; the next plain sync converges on 2.0.0.
//! Needs `cargo build --bins` first (a debug build: release builds ignore crash points).
#![allow(clippy::unwrap_used)]

use driftless_test_support::process::{stderr, stdout};
use driftless_test_support::release_spec::{Spec, SERVICES};
use driftless_test_support::world::World;
use std::os::unix::process::ExitStatusExt as _;

/// SIGABRT.
const SIGABRT: i32 = 6;

fn upgrade_killed_at(point: &str) {
    let w = World::new(&format!("crash-{point}"));
    w.release("1.0.0", Spec::default());
    w.install("h");
    w.sync_ok("h");
    w.assert_runs("h", "1.0.0");
    let config = w.state_dir("h").join("config.toml");
    let journal = w.state_dir("h").join("journal.json");
    let original = std::fs::read(&config).unwrap();
    assert!(!journal.exists(), "a finished sync left journal.json");

    w.release("2.0.0", Spec::default());
    let out = w
        .cli("h")
        .arg("sync")
        .env("DRIFTLESS_CRASH_AT", point)
        .output()
        .unwrap();
    assert!(
        !out.status.success()
            && (out.status.signal() == Some(SIGABRT) || out.status.code() == Some(134)),
        "sync crashing at {point} ended with {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&format!("crash point {point}")),
        "stderr: {}",
        stderr(&out)
    );
    assert!(journal.exists(), "no journal.json after a crash at {point}");
    assert_eq!(
        std::fs::read(&config).unwrap(),
        original,
        "config.toml changed by a crash at {point}"
    );

    // Every service runs, each from one of the two releases.
    assert_eq!(
        w.running_containers("h").len(),
        SERVICES.len(),
        "after a crash at {point}"
    );
    for s in SERVICES {
        let body = w.served("h", s);
        assert!(
            body == format!("{s} 1.0.0") || body == format!("{s} 2.0.0"),
            "{s} serves {body:?} after a crash at {point}"
        );
    }
    let status = w.status("h");
    let current = status["current_version"].as_str().unwrap_or_default();
    assert!(
        current == "1.0.0" || current == "2.0.0",
        "status after a crash at {point}: {status}"
    );

    let out = w.sync_ok("h");
    eprintln!("sync after a crash at {point}: {}", stderr(&out).trim());
    w.assert_runs("h", "2.0.0");
    let status = w.status("h");
    assert_eq!(status["status"], "converged", "{status}");
    assert_eq!(status["assigned_version"], "2.0.0", "{status}");
    assert!(
        !journal.exists(),
        "journal.json left after the sync that followed a crash at {point}"
    );
    assert_eq!(std::fs::read(&config).unwrap(), original, "config.toml");
}

#[test]
fn crash_after_pull_then_sync_converges() {
    upgrade_killed_at("after-pull");
}

#[test]
fn crash_after_render_then_sync_converges() {
    upgrade_killed_at("after-render");
}

#[test]
fn crash_mid_up_then_sync_converges() {
    upgrade_killed_at("mid-up");
}

#[test]
fn crash_before_switch_then_sync_converges() {
    upgrade_killed_at("before-switch");
}

#[test]
fn crash_before_report_then_sync_converges() {
    upgrade_killed_at("before-report");
}
