//! Self-update end to end: the vendor publishes a release offering a CLI build, and a
//! host running a copy of the current CLI installs it (verified against the signed
//! release document), smoke-tests it, and rolls back when it does not run.
//!
//! Needs `cargo build --bins` and the second CLI at 99.0.0: the release build of the
//! CLI that scripts/test makes with `scripts/release --throwaway-key --check --version
//! 99.0.0 --out target/dist`, so a host on the current CLI self-updates to a real,
//! reproducible release build. A missing one fails the tests, it never skips them. The
//! real binary is never replaced: every host runs its own copy.
#![allow(clippy::unwrap_used)]

use driftless_exit::code::{CONFLICT, SELF_UPDATE, VERIFICATION};
use driftless_test_support::hostile_control_plane::TamperingProxy;
use driftless_test_support::http_probe::http_body;
use driftless_test_support::process::{assert_exit, assert_success, stderr, stdout};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::world::World;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The release CLI scripts/test builds, relative to the workspace root.
const NEXT_CLI: &str = "target/dist/driftless";

/// The one host of each test.
const HOST: &str = "host";

fn next_cli() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(NEXT_CLI);
    assert!(
        path.is_file(),
        "{} is missing; scripts/test builds it with `scripts/release --throwaway-key --version 99.0.0 --out target/dist`",
        path.display()
    );
    path
}

/// The SHA-256 scripts/release listed for the CLI in its SHA256SUMS, beside it.
fn released_sha256(next: &Path) -> String {
    let sums = next.with_file_name("SHA256SUMS");
    let text = std::fs::read_to_string(&sums).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}); scripts/release writes it",
            sums.display()
        )
    });
    text.lines()
        .find_map(|l| l.strip_suffix("  driftless"))
        .unwrap_or_else(|| panic!("{} lists no `driftless`: {text}", sums.display()))
        .to_string()
}

/// This host's platform, as the CLI names it.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

/// `<path> --version`, trimmed.
fn version_of(path: &Path) -> String {
    let out = Command::new(path).arg("--version").output().unwrap();
    assert_success(&out, &format!("{} --version", path.display()));
    stdout(&out).trim().to_string()
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One test's world whose one host runs a copy of the current CLI, which a
/// self-update may replace; the real binary never is.
struct SelfUpdating {
    w: World,
    /// The host's own copy of target/debug/driftless.
    cli: PathBuf,
    /// The bytes of the CLI the host started with.
    original: Vec<u8>,
}

impl SelfUpdating {
    fn new(test: &str) -> SelfUpdating {
        let mut w = World::new(&format!("su-{test}"));
        let cli = w.use_cli_copy();
        let original = std::fs::read(&cli).unwrap();
        SelfUpdating { w, cli, original }
    }

    /// Publishes `version` with `extra` publish arguments and promotes it to stable.
    fn release(&self, version: &str, extra: &[&str]) {
        let compose = self.w.build(version, Spec::PORTS);
        self.w.publish_app(&self.w.app, version, &compose, extra);
        self.w.promote(version, "stable");
    }

    /// The host's CLI copy, aimed at its state directory.
    fn driftless(&self, args: &[&str]) -> Output {
        self.w.driftless(HOST, args)
    }

    fn install(&self) {
        self.w.install(HOST);
    }

    /// The decoded release document the control plane stores for `version`.
    fn release_document(&self, version: &str) -> Value {
        self.w.release_document(version)
    }

    fn serves(&self) -> String {
        http_body(self.w.web_port)
    }

    /// Asserts the host's CLI is the one it started with, byte for byte, and runs.
    fn assert_cli_unchanged(&self) {
        assert!(
            std::fs::read(&self.cli).unwrap() == self.original,
            "the host's CLI changed"
        );
        assert_eq!(version_of(&self.cli), version_of(&self.w.stack.cli_bin));
        assert!(
            !self.cli.with_file_name(".driftless.new").exists(),
            "a half-installed .driftless.new was left behind"
        );
    }

    /// Writes a shell script standing in for a CLI build; returns its path.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.w.stack.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

#[test]
fn a_release_that_needs_a_newer_cli_updates_it_re_execs_and_converges() {
    let next = next_cli();
    let w = SelfUpdating::new("upd");
    let offer = format!("{}={}", platform(), next.display());
    w.release(
        "1.0.0",
        &["--cli-binary", &offer, "--min-cli-version", "99.0.0"],
    );
    let next_bytes = std::fs::read(&next).unwrap();
    // The build offered is the release's, as its SHA256SUMS lists it.
    assert_eq!(hex_sha256(&next_bytes), released_sha256(&next));
    let doc = w.release_document("1.0.0");
    assert_eq!(doc["cli"][0]["platform"], platform());
    assert_eq!(doc["cli"][0]["version"], "99.0.0");
    assert_eq!(
        doc["cli"][0]["digest"],
        format!("sha256:{}", hex_sha256(&next_bytes))
    );
    assert_eq!(doc["cli"][0]["size"], next_bytes.len() as u64);
    // That the control plane holds the build under its digest shows below: the host
    // downloads it by that digest, checks it, and runs exactly those bytes.

    w.install();
    let out = w.driftless(&["sync"]);
    assert_success(&out, "driftless sync (self-updating)");
    assert!(
        stderr(&out).contains("updating this CLI to 99.0.0"),
        "sync did not say it updated the CLI: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("converged on 1.0.0"),
        "the re-executed CLI did not converge: {}",
        stderr(&out)
    );
    assert_eq!(w.serves(), "web 1.0.0");
    assert_eq!(version_of(&w.cli), "driftless 99.0.0");
    assert!(std::fs::read(&w.cli).unwrap() == next_bytes);
    let prev = w.cli.with_file_name("driftless.prev");
    assert!(
        std::fs::read(&prev).unwrap() == w.original,
        "{} is not the CLI the host started with",
        prev.display()
    );
    let status = w.driftless(&["status", "--json"]);
    assert_success(&status, "driftless status --json");
}

#[test]
fn a_tampered_cli_build_on_the_control_plane_is_refused_and_nothing_is_replaced() {
    let next = next_cli();
    let w = SelfUpdating::new("tamper");
    let offer = format!("{}={}", platform(), next.display());
    w.release(
        "1.0.0",
        &["--cli-binary", &offer, "--min-cli-version", "99.0.0"],
    );
    // The control plane serves the build with one byte changed, same size: only the
    // digest can tell.
    let proxy = TamperingProxy::flipping_artifacts(&w.w.stack.url()).unwrap();

    w.install();
    w.w.point_host_at(HOST, &proxy.url());
    let out = w.driftless(&["sync"]);
    assert!(
        proxy.tampered() >= 1,
        "the proxy changed no download: {}",
        stderr(&out)
    );
    assert_exit(&out, VERIFICATION, "sync with a tampered CLI build");
    assert!(
        stderr(&out).contains("needs driftless 99.0.0") && stderr(&out).contains("hashes to"),
        "the error does not say the release needs a newer CLI whose build did not verify: {}",
        stderr(&out)
    );
    w.assert_cli_unchanged();
    assert!(!w.cli.with_file_name("driftless.prev").exists());
}

#[test]
fn a_cli_build_that_fails_its_smoke_test_is_rolled_back() {
    let w = SelfUpdating::new("smoke");
    let broken = w.script("broken-cli", "exit 1");
    let offer = format!("{}={}", platform(), broken.display());
    w.release(
        "1.0.0",
        &["--cli-binary", &offer, "--cli-version", "99.0.0"],
    );
    w.install();
    assert_success(&w.driftless(&["sync"]), "driftless sync");
    assert_eq!(w.serves(), "web 1.0.0");

    let out = w.driftless(&["self-update"]);
    assert_exit(
        &out,
        SELF_UPDATE,
        "self-update to a build that does not run",
    );
    assert!(
        stderr(&out).contains("smoke test") && stderr(&out).contains("restored"),
        "the error does not say the smoke test failed and the binary was restored: {}",
        stderr(&out)
    );
    w.assert_cli_unchanged();
    // The restored CLI still works on this host.
    assert_success(&w.driftless(&["sync"]), "driftless sync after the rollback");
}

#[test]
fn self_update_refuses_an_older_cli_unless_forced() {
    let w = SelfUpdating::new("down");
    let older = w.script("older-cli", "echo driftless 0.0.1");
    let offer = format!("{}={}", platform(), older.display());
    w.release("1.0.0", &["--cli-binary", &offer]);
    assert_eq!(w.release_document("1.0.0")["cli"][0]["version"], "0.0.1");
    w.install();
    assert_success(&w.driftless(&["sync"]), "driftless sync");

    let out = w.driftless(&["self-update"]);
    assert_exit(&out, CONFLICT, "self-update to an older CLI");
    assert!(
        stderr(&out).contains("already at"),
        "the refusal does not say the CLI is already newer: {}",
        stderr(&out)
    );
    w.assert_cli_unchanged();

    let out = w.driftless(&["self-update", "--force"]);
    assert_success(&out, "driftless self-update --force");
    assert_eq!(version_of(&w.cli), "driftless 0.0.1");
    assert!(std::fs::read(w.cli.with_file_name("driftless.prev")).unwrap() == w.original);
}
