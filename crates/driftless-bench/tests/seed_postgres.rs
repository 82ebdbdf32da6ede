//! The load generator on PostgreSQL: a data dir initialised with `--database-url`,
//! seeded through the PostgreSQL store (the URL taken from the data dir's settings, as
//! `serve` takes it), served, and driven with both kinds of check-in for about a
//! second; every answer must be the expected one. Nothing is timed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use driftless_test_support::control_plane::spawn_serve;
use driftless_test_support::postgres::fresh_database;
use driftless_test_support::stack::{free_port, workspace_bin};
use std::process::{Command, Output};

const INSTALLS: &str = "40";

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftless-bench"))
        .args(args)
        .env_remove("DRIFTLESS_DATABASE_URL")
        .output()
        .expect("driftless-bench runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `run --json` in `mode` and checks that every answer was `expected`.
fn run_only(url: &str, mode: &str, expected: &str) {
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
    ]);
    assert!(out.status.success(), "{mode} run failed: {}", stderr(&out));
    let figures: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    let statuses = figures["statuses"].as_object().unwrap();
    assert_eq!(statuses.keys().collect::<Vec<_>>(), [expected], "{figures}");
    assert!(figures["ok"].as_u64().unwrap() > 0, "{figures}");
    assert_eq!(figures["unexpected"], 0, "{figures}");
    assert_eq!(figures["failed"], 0, "{figures}");
}

#[test]
fn installs_seeded_on_postgresql_check_in_with_only_expected_answers() {
    let Some(db) = fresh_database() else {
        return; // not installed outside CI: fresh_database printed why
    };
    let vendor = workspace_bin("driftless-vendor").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("control");
    let addr = format!("127.0.0.1:{}", free_port().unwrap());
    let init = Command::new(&vendor)
        .args(["init", "--json", "--registry-insecure", "--listen", &addr])
        .args(["--registry-host", "127.0.0.1:1", "--database-url", db.url()])
        .arg("--data-dir")
        .arg(&data)
        .env_remove("DRIFTLESS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(init.status.success(), "init: {}", stderr(&init));

    let data_arg = data.to_str().unwrap();
    let out = bench(&["seed", "--data-dir", data_arg, "--installs", INSTALLS]);
    assert!(out.status.success(), "seed failed: {}", stderr(&out));
    assert!(
        !data.join("driftless.db").exists(),
        "the seed went to PostgreSQL, not to a SQLite file"
    );
    let again = bench(&[
        "seed",
        "--data-dir",
        data_arg,
        "--database-url",
        db.url(),
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
    run_only(&url, "converged", "304");
    run_only(&url, "token", "200");
    serve.kill().unwrap();
    serve.wait().unwrap();
}
