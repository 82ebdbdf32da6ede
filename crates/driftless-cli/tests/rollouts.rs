//! End to end: staged rollouts, aborts, automatic halts, yanks, channel moves and
//! deprecation, over several simulated hosts (each its own state dir and compose
//! project, without host ports so they never collide), with the real control plane,
//! registry and Docker Engine. Needs `cargo build --bins` first.
#![allow(clippy::unwrap_used)]

use driftless_exit::code::{CONFLICT, RUNTIME};
use driftless_test_support::process::{
    assert_code, assert_refused_with_hint, assert_success, stderr,
};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::world::World;
use serde_json::Value;
use sha2::Digest as _;
use std::process::Output;
use std::time::{Duration, Instant};

/// An install's rollout seed: the first two bytes of SHA-256(id), big-endian, mod 2048.
fn seed(install_id: &str) -> u32 {
    let h = sha2::Sha256::digest(install_id.as_bytes());
    u32::from(u16::from_be_bytes([h[0], h[1]])) % 2048
}

/// The seeds a wave of `pct`% opens: those below this.
fn seed_limit(pct: u32) -> u32 {
    (pct * 2048).div_ceil(100)
}

/// Polls `f` until it returns `Some` or `timeout` passes.
fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The rollout of `version` in `rollout list`.
fn rollout_of(w: &World, version: &str) -> Value {
    w.rollouts()
        .into_iter()
        .rev()
        .find(|r| r["version"] == version)
        .unwrap_or_else(|| panic!("no rollout of {version} in {:?}", w.rollouts()))
}

fn start_rollout(w: &World, version: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "rollout",
        "start",
        "--app",
        &w.app,
        "--channel",
        "stable",
        "--version",
        version,
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&w.vendor_ok(&args)).unwrap()
}

/// Runs `driftless sync` on every host at once; returns the outputs in order.
fn sync_all(w: &World, hosts: &[String]) -> Vec<Output> {
    let children: Vec<_> = hosts
        .iter()
        .map(|h| {
            w.cli(h)
                .arg("sync")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

fn sync_all_ok(w: &World, hosts: &[String]) {
    for (h, out) in hosts.iter().zip(sync_all(w, hosts)) {
        assert_success(&out, &format!("driftless sync on {h}"));
    }
}

/// Installs `n` hosts named `<prefix><i>`, each on 1.0.0 after a sync.
fn hosts_on_1_0_0(w: &World, prefix: &str, n: usize) -> Vec<(String, String)> {
    let hosts: Vec<(String, String)> = (0..n)
        .map(|i| {
            let h = format!("{prefix}{i}");
            let id = w.install(&h);
            (h, id)
        })
        .collect();
    let names: Vec<String> = hosts.iter().map(|(h, _)| h.clone()).collect();
    sync_all_ok(w, &names);
    for (h, _) in &hosts {
        w.assert_runs(h, "1.0.0");
    }
    hosts
}

#[test]
fn a_rollout_in_waves_moves_exactly_the_opened_seeds_then_everyone() {
    let w = World::new("waves");
    w.release("1.0.0", Spec::default());
    let limit = seed_limit(25);
    assert_eq!(limit, 512);
    // Six hosts at least; more until the first wave holds someone and leaves someone.
    let mut hosts: Vec<(String, String)> = Vec::new();
    for i in 0..24 {
        let inside = hosts.iter().filter(|(_, id)| seed(id) < limit).count();
        if hosts.len() >= 6 && inside > 0 && inside < hosts.len() {
            break;
        }
        let h = format!("h{i}");
        let id = w.install(&h);
        hosts.push((h, id));
    }
    let names: Vec<String> = hosts.iter().map(|(h, _)| h.clone()).collect();
    sync_all_ok(&w, &names);
    for (h, _) in &hosts {
        w.assert_runs(h, "1.0.0");
    }

    w.publish_built("2.0.0", Spec::default());
    let started = start_rollout(&w, "2.0.0", &["--waves", "25%,100%"]);
    assert_eq!(started["version"], "2.0.0", "{started}");
    assert_eq!(started["wave_index"], 0, "{started}");
    assert_eq!(started["state"], "running", "{started}");

    sync_all_ok(&w, &names);
    for (h, id) in &hosts {
        let s = seed(id);
        if s < limit {
            w.assert_runs(h, "2.0.0");
            let row = w.fleet_row(id);
            assert_eq!(row["current_version"], "2.0.0", "{row}");
        } else {
            w.assert_runs(h, "1.0.0");
            let row = w.fleet_row(id);
            assert_eq!(row["current_version"], "1.0.0", "{row}");
            assert_eq!(
                row["reason"]["code"], "waiting_for_wave",
                "host {h} (seed {s}): {row}"
            );
            let status = w.status(h);
            assert_eq!(status["status"], "converged", "{status}");
        }
    }

    // A channel with an active rollout cannot be promoted to.
    let out = w.vendor(&[
        "promote",
        "--app",
        &w.app,
        "--version",
        "2.0.0",
        "--channel",
        "stable",
    ]);
    assert_code(&out, CONFLICT, "promote during a rollout");

    let advanced = w.rollout("advance");
    assert_eq!(advanced["wave_index"], 1, "{advanced}");
    sync_all_ok(&w, &names);
    for (h, id) in &hosts {
        w.assert_runs(h, "2.0.0");
        let row = w.fleet_row(id);
        assert_eq!(row["current_version"], "2.0.0", "{row}");
        assert_ne!(row["reason"]["code"], "waiting_for_wave", "{row}");
    }

    // Past the last wave, advancing completes it: the channel points at 2.0.0.
    let done = w.rollout("advance");
    assert_eq!(done["state"], "completed", "{done}");
    let listed = rollout_of(&w, "2.0.0");
    assert_eq!(listed["state"], "completed", "{listed}");
    sync_all_ok(&w, &names);
    for (h, _) in &hosts {
        w.assert_runs(h, "2.0.0");
    }

    w.publish_built("3.0.0", Spec::default());
    w.promote("3.0.0", "stable");
    let (h, _) = &hosts[0];
    w.sync_ok(h);
    w.assert_runs(h, "3.0.0");
}

#[test]
fn aborting_a_rollout_brings_its_hosts_back_to_the_previous_release() {
    let w = World::new("abort");
    w.release("1.0.0", Spec::default());
    let hosts = hosts_on_1_0_0(&w, "h", 3);
    let names: Vec<String> = hosts.iter().map(|(h, _)| h.clone()).collect();

    w.publish_built("2.0.0", Spec::default());
    start_rollout(&w, "2.0.0", &["--waves", "100%"]);
    sync_all_ok(&w, &names);
    for h in &names {
        w.assert_runs(h, "2.0.0");
    }

    let aborted = w.rollout("abort");
    assert_eq!(aborted["state"], "aborted", "{aborted}");
    assert_eq!(rollout_of(&w, "2.0.0")["state"], "aborted");
    sync_all_ok(&w, &names);
    for (h, id) in &hosts {
        w.assert_runs(h, "1.0.0");
        let status = w.status(h);
        assert_eq!(status["status"], "converged", "{status}");
        assert_eq!(w.fleet_row(id)["current_version"], "1.0.0");
    }
}

#[test]
fn a_release_failing_its_health_check_is_rolled_back_on_each_host_and_halts_the_rollout() {
    let mut w = World::new("halt");
    w.set_server_setting("rollout_tick_s", 1);
    w.release(
        "1.0.0",
        Spec {
            health_timeout_s: Some(60),
            ..Spec::default()
        },
    );
    let hosts = hosts_on_1_0_0(&w, "h", 4);
    let names: Vec<String> = hosts.iter().map(|(h, _)| h.clone()).collect();
    // On 1.0.0 too, but it does not sync while the rollout runs: it never tries 2.0.0.
    let (late, late_id) = hosts_on_1_0_0(&w, "late", 1).remove(0);

    w.publish_built(
        "2.0.0",
        Spec {
            health_timeout_s: Some(15),
            failing_web: true,
            ..Spec::default()
        },
    );
    start_rollout(
        &w,
        "2.0.0",
        &[
            "--waves",
            "100%",
            "--halt-min-failures",
            "3",
            "--halt-failure-pct",
            "20",
        ],
    );
    for (h, out) in names.iter().zip(sync_all(&w, &names)) {
        assert_code(
            &out,
            RUNTIME,
            &format!("sync of an unhealthy release on {h}"),
        );
    }
    for h in &names {
        w.assert_runs(h, "1.0.0");
        let status = w.status(h);
        let s = status["status"].as_str().unwrap();
        assert!(s.starts_with("failed:health_failed: "), "status: {status}");
        assert_eq!(status["reason"]["code"], "health_failed", "{status}");
        assert_eq!(status["held_back"], "2.0.0", "{status}");
        assert_eq!(status["target_version"], "2.0.0", "{status}");
    }

    let halted = wait_for(Duration::from_secs(15), || {
        let r = rollout_of(&w, "2.0.0");
        (r["state"] == "halted").then_some(r)
    })
    .unwrap_or_else(|| panic!("rollout not halted: {}", rollout_of(&w, "2.0.0")));
    assert!(
        halted["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{halted}"
    );
    assert_eq!(halted["failed"], 4, "{halted}");

    // Halted: the rollout hands 2.0.0 to no one who has not applied it. The hosts that
    // failed it are handed 1.0.0 again and stay as they are; so is a host that never
    // tried it.
    let mut all = names.clone();
    all.push(late.clone());
    for h in &all {
        let before = w.all_containers(h);
        let out = w.sync(h);
        assert_success(&out, &format!("sync on {h} after the halt"));
        let err = stderr(&out);
        assert!(
            !err.contains("starting ") && !err.contains("pulling "),
            "a sync after the halt applied something on {h}: {err}"
        );
        assert_eq!(w.all_containers(h), before, "containers changed on {h}");
        w.assert_runs(h, "1.0.0");
        let status = w.status(h);
        assert_eq!(status["status"], "converged", "{status}");
        let detail = status["reason"]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("halted"), "{h} is not told why: {status}");
    }
    for h in &names {
        // The failed release stays held back on the hosts it failed on.
        assert_eq!(w.status(h)["held_back"], "2.0.0");
    }
    let row = w.fleet_row(&late_id);
    assert_eq!(
        (&row["desired_version"], &row["current_version"]),
        (&Value::from("1.0.0"), &Value::from("1.0.0")),
        "{row}"
    );

    // A halted rollout is not advanced: `resume` is the way on.
    let out = w.vendor(&["rollout", "advance", "--app", &w.app, "--channel", "stable"]);
    assert_refused_with_hint(&out, CONFLICT, "advance of a halted rollout");
    let err = stderr(&out);
    assert!(
        err.contains("halted") && err.contains("rollout resume"),
        "{err}"
    );
    assert_eq!(rollout_of(&w, "2.0.0")["state"], "halted");
}

#[test]
fn yanking_the_channels_release_moves_the_channel_and_its_hosts_back() {
    let w = World::new("yank");
    w.release("1.0.0", Spec::default());
    let hosts = hosts_on_1_0_0(&w, "h", 2);
    let names: Vec<String> = hosts.iter().map(|(h, _)| h.clone()).collect();
    w.release("2.0.0", Spec::default());
    sync_all_ok(&w, &names);
    for h in &names {
        w.assert_runs(h, "2.0.0");
    }

    w.vendor_ok(&["release", "yank", "--app", &w.app, "--version", "2.0.0"]);
    for (_, id) in &hosts {
        assert_eq!(w.fleet_row(id)["desired_version"], "1.0.0");
    }
    sync_all_ok(&w, &names);
    for h in &names {
        w.assert_runs(h, "1.0.0");
        assert_eq!(w.status(h)["status"], "converged");
    }
}

#[test]
fn moving_an_install_to_another_channel_converges_it_on_that_channels_release() {
    let w = World::new("move");
    w.release("1.0.0", Spec::default());
    let hosts = hosts_on_1_0_0(&w, "h", 2);
    w.vendor_ok(&["channel", "create", "--app", &w.app, "beta"]);
    w.publish_built("2.0.0", Spec::default());
    w.promote("2.0.0", "beta");

    let (moved, id) = &hosts[0];
    let (stayed, _) = &hosts[1];
    w.vendor_ok(&["install", "move", id, "--channel", "beta"]);
    w.sync_ok(moved);
    w.sync_ok(stayed);
    w.assert_runs(moved, "2.0.0");
    w.assert_runs(stayed, "1.0.0");
    let row = w.fleet_row(id);
    assert_eq!(row["channel"], "beta", "{row}");
    assert_eq!(row["current_version"], "2.0.0", "{row}");
}

/// Deprecates 1.0.0 once a host runs it; returns the world and the host.
fn deprecated_world(test: &str) -> (World, String) {
    let w = World::new(test);
    w.release("1.0.0", Spec::default());
    let hosts = hosts_on_1_0_0(&w, "h", 1);
    let h = hosts[0].0.clone();
    w.vendor_ok(&[
        "release",
        "deprecate",
        "--app",
        &w.app,
        "--version",
        "1.0.0",
    ]);
    (w, h)
}

fn assert_told_deprecated(w: &World, h: &str) {
    let status = w.status(h);
    let notice = status["notice"].as_str().unwrap_or_default();
    assert!(notice.contains("deprecated"), "status: {status}");
    w.assert_runs(h, "1.0.0");
}

#[test]
fn a_host_installed_on_a_deprecated_release_runs_it_and_is_told() {
    let (w, _) = deprecated_world("deprecate-new");
    w.install("late");
    w.sync_ok("late");
    assert_told_deprecated(&w, "late");
}

#[test]
fn a_host_running_a_release_is_told_when_it_is_deprecated() {
    let (w, h) = deprecated_world("deprecate");
    let before = w.all_containers(&h);
    w.sync_ok(&h);
    assert_told_deprecated(&w, &h);
    assert_eq!(w.all_containers(&h), before, "containers changed");
}
