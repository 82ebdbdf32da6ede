#![allow(clippy::unwrap_used)]
//! The license key and the registry credential against a real control plane (`init` +
//! `serve`, no registry or Docker): `install` takes the key from a file, standard
//! input or `DRIFTLESS_LICENSE`, and warns when it is given as an argument, where
//! other users see it in `ps`; every refusal is one error line and a hint, with its
//! own exit code, and leaves no install behind.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use driftless_test_support::control_plane::ControlPlane;
use serde_json::Value;

/// A control plane with app `acme` and a license; returns it and the key.
fn with_license() -> (ControlPlane, String) {
    let cp = ControlPlane::start().unwrap();
    let key = cp.app_with_license("acme").unwrap();
    assert!(key.starts_with("dl_"), "{key}");
    (cp, key)
}

/// `driftless install` into `state`, with `args` after the server and fingerprint,
/// `stdin` piped in, and `DRIFTLESS_LICENSE` as given.
fn install(
    cp: &ControlPlane,
    state: &Path,
    args: &[&str],
    stdin: &str,
    env: Option<&str>,
) -> Output {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("driftless"));
    cmd.arg("--state-dir")
        .arg(state)
        .args(["install", "--server", &cp.url])
        .args(["--root-fingerprint", &cp.fingerprint])
        .args(args)
        .env_remove("DRIFTLESS_LICENSE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(value) = env {
        cmd.env("DRIFTLESS_LICENSE", value);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and an install id on stdout; returns the install id.
fn installed(out: &Output, state: &Path) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    let id = String::from_utf8(out.stdout.clone())
        .unwrap()
        .trim()
        .to_string();
    assert!(id.starts_with("ins_"), "stdout: {id}");
    assert!(state.join("config.toml").is_file());
    id
}

/// Asserts the exit code, that stderr is one `error:` line, a blank line and one
/// `hint:` line, and that no install was written.
fn refused(out: &Output, code: i32, state: &Path) -> String {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("error: "), "{text}");
    assert!(
        lines[1].is_empty() && lines[2].starts_with("hint: "),
        "{text}"
    );
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    assert!(
        !state.exists(),
        "a refused install left {}",
        state.display()
    );
    text
}

#[test]
fn a_license_key_from_a_file_standard_input_or_the_environment_installs_without_a_warning() {
    let (cp, key) = with_license();
    let file = cp.dir.path().join("license");
    std::fs::write(&file, format!("{key}\n")).unwrap();
    let runs: [(&str, Vec<&str>, &str, Option<&str>); 3] = [
        (
            "file",
            vec!["--license-file", file.to_str().unwrap()],
            "",
            None,
        ),
        ("stdin", vec!["--license", "-"], &format!("{key}\n"), None),
        ("env", vec![], "", Some(&key)),
    ];
    for (name, args, stdin, env) in runs {
        let state = cp.dir.path().join(name);
        let out = install(&cp, &state, &args, stdin, env);
        installed(&out, &state);
        let text = stderr(&out);
        assert!(!text.contains("warning"), "{name}: {text}");
        assert!(!text.contains(&key), "{name}: the key was echoed: {text}");
    }
}

#[test]
fn a_license_key_given_as_an_argument_still_installs_but_warns_why_it_is_unsafe() {
    let (cp, key) = with_license();
    let state = cp.dir.path().join("argument");
    let out = install(&cp, &state, &["--license", &key], "", Some("dl_ignored"));
    installed(&out, &state);
    let text = stderr(&out);
    let warning = text
        .lines()
        .find(|l| l.starts_with("warning: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        warning.contains("ps") && warning.contains("shell history"),
        "{warning}"
    );
    assert!(warning.contains("--license-file"), "{warning}");
}

#[test]
fn a_missing_empty_or_doubly_given_license_key_is_refused_and_nothing_is_installed() {
    let (cp, key) = with_license();
    let state = cp.dir.path().join("refused");
    let empty = cp.dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let file = empty.to_str().unwrap();
    let missing = cp.dir.path().join("no-such-file");

    let text = refused(&install(&cp, &state, &[], "", None), 2, &state);
    assert!(
        text.contains("DRIFTLESS_LICENSE") && text.contains("--license-file"),
        "{text}"
    );
    let both = ["--license", &key, "--license-file", file];
    refused(&install(&cp, &state, &both, "", None), 2, &state);
    refused(
        &install(&cp, &state, &["--license-file", file], "", None),
        3,
        &state,
    );
    refused(
        &install(&cp, &state, &["--license", "-"], "", None),
        3,
        &state,
    );
    refused(&install(&cp, &state, &[], "", Some("  ")), 3, &state);
    let absent = ["--license-file", missing.to_str().unwrap()];
    let text = refused(&install(&cp, &state, &absent, "", None), 3, &state);
    assert!(text.contains("no-such-file"), "{text}");

    // A wrong key read from a file is refused by the control plane, as before.
    std::fs::write(&empty, "dl_wrong\n").unwrap();
    refused(
        &install(&cp, &state, &["--license-file", file], "", None),
        7,
        &state,
    );
}

#[test]
fn registry_login_asks_the_control_plane_for_a_credential_docker_can_present_repeatedly() {
    let (cp, key) = with_license();
    let state = cp.dir.path().join("host");
    let id = installed(
        &install(&cp, &state, &["--license", "-"], &key, None),
        &state,
    );

    let login = |n: usize| {
        let out = Command::new(assert_cmd::cargo::cargo_bin("driftless"))
            .arg("--state-dir")
            .arg(&state)
            .arg("registry-login")
            .output()
            .unwrap();
        assert!(out.status.success(), "login {n}: {}", stderr(&out));
        let line = String::from_utf8(out.stdout).unwrap();
        let (user, password) = line.trim().split_once(' ').unwrap();
        assert_eq!(user, id);
        password.to_string()
    };
    // Two logins back to back are two signed requests, each newer than the last.
    let (first, second) = (login(1), login(2));

    let http = reqwest::blocking::Client::new();
    for password in [&first, &first, &second] {
        let resp = http
            .get(format!("{}/v1/registry/token", cp.url))
            .query(&[
                ("service", "driftless-registry"),
                ("scope", "repository:acme/web:pull"),
            ])
            .basic_auth(&id, Some(password))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().unwrap();
        assert!(body["token"].is_string(), "{body}");
    }
}
