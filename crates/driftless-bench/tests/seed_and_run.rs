//! The load generator against the real control plane: seed a small SQLite data dir,
//! start `driftless-vendor serve` on it, drive both kinds of check-in for about a
//! second, and check that every answer was the expected one. Nothing is timed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use driftless_test_support::control_plane::{init_data_dir, spawn_serve};
use driftless_test_support::stack::{free_port, workspace_bin};
use std::path::Path;
use std::process::{Command, Output};

const INSTALLS: &str = "50";

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftless-bench"))
        .args(args)
        .output()
        .expect("driftless-bench runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `run --json` in `mode`; returns its figures.
fn run_checkins(url: &str, mode: &str, data: &Path) -> serde_json::Value {
    let db = data.join("driftless.db");
    let out = bench(&[
        "run",
        "--url",
        url,
        "--installs",
        INSTALLS,
        "--active",
        INSTALLS,
        "--mode",
        mode,
        "--duration",
        "1s",
        "--connections",
        "4",
        "--json",
        "--database",
        db.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{mode} run failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

/// Only `expected` answers, at least one, none unexpected or lost.
fn assert_only(figures: &serde_json::Value, expected: &str) {
    let statuses = figures["statuses"].as_object().unwrap();
    assert_eq!(statuses.keys().collect::<Vec<_>>(), [expected], "{figures}");
    assert!(figures["ok"].as_u64().unwrap() > 0, "{figures}");
    assert_eq!(figures["ok"], statuses[expected], "{figures}");
    assert_eq!(figures["unexpected"], 0, "{figures}");
    assert_eq!(figures["failed"], 0, "{figures}");
    assert!(figures["db_bytes_per_install"].as_f64().unwrap() > 0.0);
}

#[test]
fn seeded_installs_check_in_as_converged_and_for_tokens_with_only_expected_answers() {
    let vendor = workspace_bin("driftless-vendor").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("control");
    let addr = format!("127.0.0.1:{}", free_port().unwrap());
    init_data_dir(&vendor, &data, &addr).unwrap();

    let out = bench(&[
        "seed",
        "--data-dir",
        data.to_str().unwrap(),
        "--installs",
        INSTALLS,
    ]);
    assert!(out.status.success(), "seed failed: {}", stderr(&out));
    let again = bench(&[
        "seed",
        "--data-dir",
        data.to_str().unwrap(),
        "--installs",
        "1",
    ]);
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already seeded"),
        "{}",
        stderr(&again)
    );

    let mut serve = spawn_serve(&vendor, &data, &dir.path().join("serve.log"), &addr).unwrap();
    let url = format!("http://{addr}");
    let converged = run_checkins(&url, "converged", &data);
    let token = run_checkins(&url, "token", &data);

    // Installs the seed never made are refused at setup, with what to do.
    let stranger = bench(&[
        "run",
        "--url",
        &url,
        "--installs",
        INSTALLS,
        "--seed",
        "2",
        "--mode",
        "converged",
        "--active",
        "1",
        "--connections",
        "1",
        "--duration",
        "1s",
    ]);
    // A run whose answers are not the expected ones fails loudly.
    let wrong = bench(&[
        "static",
        "--url",
        &format!("{url}/v1/nope"),
        "--duration",
        "200ms",
        "--connections",
        "1",
    ]);
    serve.kill().unwrap();
    serve.wait().unwrap();

    assert_only(&converged, "304");
    assert_only(&token, "200");
    assert!(!stranger.status.success());
    assert!(
        stderr(&stranger).contains("unknown_install"),
        "{}",
        stderr(&stranger)
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains("ERROR: "), "{}", stderr(&wrong));
    assert!(stderr(&wrong).contains("HTTP 404"), "{}", stderr(&wrong));
}
