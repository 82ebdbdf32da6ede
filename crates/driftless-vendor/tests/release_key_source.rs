#![allow(clippy::unwrap_used)]
//! Where `publish` takes the release key from, against a real control plane (`init` +
//! `serve`, no registry or Docker): an explicit `--release-key` wins over the
//! environment, and a `--sign-with` command gets neither the operator token nor the
//! release key in its environment.

use std::path::Path;
use std::process::Output;

use driftless_test_support::control_plane::{init_data_dir, ControlPlane};

/// A compose file publish reads before it looks at the release key.
fn compose(dir: &Path) -> String {
    let path = dir.join("compose.yaml");
    std::fs::write(&path, "services:\n  web:\n    image: acme-web:1.0.0\n").unwrap();
    path.to_str().unwrap().to_string()
}

/// A release key that no root of `cp` trusts: another control plane's.
fn untrusted_key(cp: &ControlPlane) -> std::path::PathBuf {
    let other = cp.dir.path().join("other");
    init_data_dir(&cp.vendor_bin, &other, "127.0.0.1:1").unwrap();
    other.join("offline-keys/release.pem")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `publish` of app `app` with `args` and `env`; nothing else of the release key set.
fn publish(cp: &ControlPlane, app: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let compose = compose(cp.dir.path());
    let mut cmd = cp.vendor();
    cmd.args([
        "publish",
        "--app",
        app,
        "--version",
        "1.0.0",
        "--compose",
        &compose,
    ])
    .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Exit 4 (no such app): publish got past the release-key check, which comes first.
fn key_accepted(out: &Output) {
    assert_eq!(out.status.code(), Some(4), "{}", stderr(out));
    assert!(!stderr(out).contains("not trusted"), "{}", stderr(out));
}

/// Exit 3: the key publish chose is not the trusted one.
fn key_refused(out: &Output) {
    assert_eq!(out.status.code(), Some(3), "{}", stderr(out));
    assert!(
        stderr(out).contains("not trusted by root"),
        "{}",
        stderr(out)
    );
}

#[test]
fn an_explicit_release_key_wins_over_the_environment() {
    let cp = ControlPlane::start().unwrap();
    let trusted = cp.data_dir().join("offline-keys/release.pem");
    let trusted = trusted.to_str().unwrap();
    let untrusted = untrusted_key(&cp);
    let untrusted_pem = std::fs::read_to_string(&untrusted).unwrap();
    let untrusted = untrusted.to_str().unwrap();

    // --release-key beats both variables.
    let env = [
        ("DRIFTLESS_RELEASE_KEY", untrusted_pem.as_str()),
        ("DRIFTLESS_RELEASE_KEY_FILE", untrusted),
    ];
    key_accepted(&publish(
        &cp,
        "no-such-app",
        &["--release-key", trusted],
        &env,
    ));
    // Without it, the PEM in the environment beats the file in the environment.
    let env = [
        ("DRIFTLESS_RELEASE_KEY", untrusted_pem.as_str()),
        ("DRIFTLESS_RELEASE_KEY_FILE", trusted),
    ];
    key_refused(&publish(&cp, "no-such-app", &[], &env));
    let env = [("DRIFTLESS_RELEASE_KEY_FILE", trusted)];
    key_accepted(&publish(&cp, "no-such-app", &[], &env));
    // And the other way round: an untrusted key given explicitly is refused even
    // when the environment holds the trusted one.
    let env = [("DRIFTLESS_RELEASE_KEY_FILE", trusted)];
    key_refused(&publish(
        &cp,
        "no-such-app",
        &["--release-key", untrusted],
        &env,
    ));
}

#[test]
fn a_sign_with_command_gets_neither_the_operator_token_nor_the_release_key() {
    let cp = ControlPlane::start().unwrap();
    cp.vendor_ok(&["app", "create", "acme"]).unwrap();
    let trusted = cp.data_dir().join("offline-keys/release.pem");
    let pem = std::fs::read_to_string(&trusted).unwrap();
    let dump = cp.dir.path().join("signer-env");
    let signer = format!("env > '{}'; cat > /dev/null; exit 3", dump.display());
    let env = [
        ("DRIFTLESS_RELEASE_KEY", pem.as_str()),
        ("DRIFTLESS_RELEASE_KEY_FILE", trusted.to_str().unwrap()),
        ("DRIFTLESS_TEST_MARKER", "reaches-the-signer"),
    ];
    let out = publish(&cp, "acme", &["--sign-with", &signer], &env);
    assert!(!out.status.success(), "the failing signer was not run");
    assert!(stderr(&out).contains("signer"), "{}", stderr(&out));

    let seen = std::fs::read_to_string(&dump).unwrap();
    assert!(
        seen.contains("DRIFTLESS_TEST_MARKER=reaches-the-signer"),
        "the signer got no environment at all: {seen}"
    );
    for name in [
        "DRIFTLESS_TOKEN",
        "DRIFTLESS_RELEASE_KEY",
        "DRIFTLESS_RELEASE_KEY_FILE",
    ] {
        assert!(
            !seen.lines().any(|l| l.starts_with(&format!("{name}="))),
            "{name} reached the signer: {seen}"
        );
    }
    assert!(
        !seen.contains(&cp.token),
        "the operator token reached the signer"
    );
    assert!(
        !seen.contains("PRIVATE KEY"),
        "the release key reached the signer"
    );
    let releases = cp
        .vendor_ok(&["releases", "--app", "acme", "--json"])
        .unwrap();
    assert_eq!(releases, "[]", "a release was published");
}
