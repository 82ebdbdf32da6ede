//! End to end: `driftless rollback` and `driftless uninstall` on the real Docker Engine,
//! registry and control plane. A rollback brings back the release the host ran before,
//! holds the assigned one back until the vendor assigns another, never goes below the
//! rollback floor, and the fleet shows why; an uninstall asks first (refused without
//! `--yes` off a terminal), tells the control plane (or needs `--force`), removes the app
//! with or without its volumes and the state directory, and the install's key is refused
//! from then on. Needs `cargo build --bins` first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use driftless_exit::code::{
    BELOW_ROLLBACK_FLOOR, INVALID_INPUT, NOT_FOUND, UNAUTHORIZED, UNREACHABLE,
};
use driftless_test_support::docker_cli::{docker_ok, docker_quiet};
use driftless_test_support::process::{
    assert_exit, assert_refused_with_hint, assert_success, stderr,
};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::stack::free_port;
use driftless_test_support::world::World;
use serde_json::Value;
use std::path::Path;

/// `sync.json` of `host`, as stored.
fn sync_record(w: &World, host: &str) -> Vec<u8> {
    std::fs::read(w.state_dir(host).join("sync.json")).unwrap()
}

#[test]
fn a_rollback_from_2_0_0_runs_1_0_0_and_holds_2_0_0_back_until_2_0_1_is_published() {
    let w = World::new("rollback");
    w.release("1.0.0", Spec::default());
    let id = w.install("h");
    w.sync_ok("h");

    // Nothing ran before 1.0.0: refused, nothing changed.
    let before = w.running_containers("h");
    let record = sync_record(&w, "h");
    let out = w.driftless("h", &["rollback"]);
    assert_refused_with_hint(&out, NOT_FOUND, "rollback with no previous release");
    assert!(
        stderr(&out).contains("no release older than 1.0.0 ran on this host"),
        "{}",
        stderr(&out)
    );
    assert_eq!(w.running_containers("h"), before, "the app was touched");
    assert_eq!(sync_record(&w, "h"), record, "sync.json changed");

    w.release("2.0.0", Spec::default());
    w.sync_ok("h");
    w.assert_runs("h", "2.0.0");

    let out = w.driftless("h", &["rollback"]);
    assert_success(&out, "driftless rollback");
    assert!(
        stderr(&out).contains("rolled back to 1.0.0; 2.0.0 is held back"),
        "{}",
        stderr(&out)
    );
    w.assert_runs("h", "1.0.0");
    let status = w.status("h");
    assert_eq!(status["status"], "converged", "{status}");
    assert_eq!(status["held_back"], "2.0.0", "{status}");
    assert_eq!(
        status["reason"]["code"], "rolled_back_by_customer",
        "{status}"
    );
    let row = w.fleet_row(&id);
    assert_eq!(row["current_version"], "1.0.0", "{row}");
    assert_eq!(row["desired_version"], "2.0.0", "{row}");
    assert_eq!(row["reason"]["code"], "rolled_back_by_customer", "{row}");

    // The next sync keeps 1.0.0: the same containers, still held back, still reported.
    let rolled_back = w.running_containers("h");
    let out = w.sync_ok("h");
    assert!(
        stderr(&out).contains("release 2.0.0 is held back"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        w.running_containers("h"),
        rolled_back,
        "2.0.0 was re-applied"
    );
    w.assert_runs("h", "1.0.0");
    let row = w.fleet_row(&id);
    assert_eq!(row["reason"]["code"], "rolled_back_by_customer", "{row}");
    assert_eq!(row["status"], "converged", "{row}");

    // The vendor publishes a change: the host moves forward again.
    w.release("2.0.1", Spec::default());
    w.sync_ok("h");
    w.assert_runs("h", "2.0.1");
    let status = w.status("h");
    assert_eq!(
        status["held_back"],
        Value::Null,
        "the hold outlived it: {status}"
    );
    let row = w.fleet_row(&id);
    assert_eq!(row["current_version"], "2.0.1", "{row}");
    assert_eq!(row["reason"], Value::Null, "{row}");
}

#[test]
fn a_rollback_below_the_rollback_floor_is_refused_and_changes_nothing() {
    let w = World::new("rbfloor");
    w.release("1.0.0", Spec::default());
    w.install("h");
    w.sync_ok("h");
    // 2.0.0 is never assigned; 3.0.0 signs 2.0.0 as its floor.
    w.publish_built("2.0.0", Spec::default());
    let compose = w.build("3.0.0", Spec::default());
    w.publish_app(&w.app, "3.0.0", &compose, &["--rollback-floor", "2.0.0"]);
    w.promote("3.0.0", "stable");
    w.sync_ok("h");
    w.assert_runs("h", "3.0.0");

    let before = w.running_containers("h");
    let record = sync_record(&w, "h");
    let out = w.driftless("h", &["rollback"]);
    assert_refused_with_hint(&out, BELOW_ROLLBACK_FLOOR, "rollback below the floor");
    let text = stderr(&out);
    assert!(
        text.contains("cannot roll back from 3.0.0 to 1.0.0")
            && text.contains("below the rollback floor"),
        "{text}"
    );
    assert_eq!(w.running_containers("h"), before, "the app was touched");
    assert_eq!(sync_record(&w, "h"), record, "sync.json changed");
    w.assert_runs("h", "3.0.0");
}

/// Removes the named volumes when dropped, pass or fail (compose project guards do not).
struct Volumes(Vec<String>);

impl Drop for Volumes {
    fn drop(&mut self) {
        for v in &self.0 {
            docker_quiet(&["volume", "rm", "-f", v]);
        }
    }
}

fn volume_exists(name: &str) -> bool {
    let found = docker_ok(&["volume", "ls", "-q", "--filter", &format!("name=^{name}$")]);
    found.lines().any(|l| l == name)
}

/// The world's release `version` with web keeping data in the named volume `data`.
fn release_with_volume(w: &World, version: &str) {
    let compose = w.build(version, Spec::default());
    let text = std::fs::read_to_string(&compose).unwrap();
    let web = "    network_mode: bridge\n";
    assert!(text.contains(web), "{text}");
    let with_volume = text.replacen(
        web,
        "    network_mode: bridge\n    volumes:\n      - data:/data\n",
        1,
    ) + "volumes:\n  data: {}\n";
    std::fs::write(&compose, with_volume).unwrap();
    w.publish(version, &compose);
    w.promote(version, "stable");
}

fn fleet_ids(w: &World, extra: &[&str]) -> Vec<(String, String)> {
    let fleet = w.vendor_json(&[&["fleet", "--app", &w.app, "--json"], extra].concat());
    fleet
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert_success(&out, "cp -a");
}

#[test]
fn uninstall_asks_first_keeps_or_removes_the_data_and_the_fleet_lists_it_uninstalled() {
    let w = World::new("uninstall");
    release_with_volume(&w, "1.0.0");
    let keep = w.install("keep");
    let wipe = w.install("wipe");
    let volumes = Volumes(vec![
        format!("{}_data", w.project("keep")),
        format!("{}_data", w.project("wipe")),
    ]);
    w.sync_ok("keep");
    w.sync_ok("wipe");
    for v in &volumes.0 {
        assert!(volume_exists(v), "{v} was not created");
    }

    // Not on a terminal and no --yes: refused, nothing removed, the vendor not told.
    let out = w.driftless("keep", &["uninstall", "--keep-data"]);
    assert_refused_with_hint(
        &out,
        INVALID_INPUT,
        "uninstall without --yes off a terminal",
    );
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    w.assert_runs("keep", "1.0.0");
    assert!(w.state_dir("keep").join("config.toml").exists());
    assert_eq!(w.fleet_row(&keep)["status"], "converged");

    let out = w.driftless("keep", &["uninstall", "--keep-data", "--yes"]);
    assert_success(&out, "uninstall --keep-data --yes");
    assert!(w.all_containers("keep").is_empty(), "containers are left");
    assert!(
        volume_exists(&volumes.0[0]),
        "--keep-data removed the volume"
    );
    assert!(!w.state_dir("keep").exists(), "the state dir is left");

    // A copy of the install's key, kept before the uninstall, is refused afterwards.
    copy_dir(&w.state_dir("wipe"), &w.state_dir("wipe-copy"));
    let out = w.driftless("wipe", &["uninstall", "--yes"]);
    assert_success(&out, "uninstall --yes");
    assert!(w.all_containers("wipe").is_empty(), "containers are left");
    assert!(!volume_exists(&volumes.0[1]), "the volume is left");
    assert!(!w.state_dir("wipe").exists(), "the state dir is left");
    let out = w.sync("wipe-copy");
    assert_exit(
        &out,
        UNAUTHORIZED,
        "a check-in with an uninstalled install's key",
    );
    assert!(stderr(&out).contains("was uninstalled"), "{}", stderr(&out));

    // The fleet hides them by default and lists them, uninstalled, when asked.
    let active = fleet_ids(&w, &[]);
    assert!(
        !active.iter().any(|(id, _)| id == &keep || id == &wipe),
        "{active:?}"
    );
    for flag in ["--all", "--uninstalled"] {
        let listed = fleet_ids(&w, &[flag]);
        for id in [&keep, &wipe] {
            assert!(
                listed.contains(&(id.clone(), "uninstalled".to_string())),
                "fleet {flag}: {listed:?}"
            );
        }
    }
}

#[test]
fn uninstall_without_the_control_plane_needs_force_and_says_the_vendor_was_not_told() {
    let w = World::new("uninstforce");
    w.release("1.0.0", Spec::default());
    let id = w.install("h");
    w.sync_ok("h");
    let nowhere = format!("http://127.0.0.1:{}", free_port().unwrap());
    w.point_host_at("h", &nowhere);

    let out = w.driftless("h", &["uninstall", "--yes"]);
    assert_refused_with_hint(&out, UNREACHABLE, "uninstall with the control plane away");
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    w.assert_runs("h", "1.0.0");

    let out = w.driftless("h", &["uninstall", "--yes", "--force"]);
    assert_success(&out, "uninstall --yes --force");
    assert!(
        stderr(&out).contains("the vendor was not told"),
        "{}",
        stderr(&out)
    );
    assert!(w.all_containers("h").is_empty(), "containers are left");
    assert!(!w.state_dir("h").exists(), "the state dir is left");
    assert_eq!(
        w.fleet_row(&id)["status"],
        "converged",
        "the vendor was told"
    );
}
