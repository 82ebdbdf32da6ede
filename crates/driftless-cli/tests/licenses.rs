//! A license's terms on a real host, end to end (control plane, registry, Docker
//! Engine): entitlements reach the running containers' environment from the signed
//! assignment and change without a release; the customer cannot override them; an
//! expired license warns during its grace period, then refuses (exit 21); a license
//! with no seat left refuses another install (exit 21).
//!
//! Needs `cargo build --bins` first (scripts/test does).
#![allow(clippy::unwrap_used)]

use std::process::Command;

use driftless_exit::code::{INVALID_INPUT, LICENSE_REFUSED};
use driftless_test_support::process::{assert_exit, stderr, stdout};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::world::World;

/// The environment of `host`'s api container, one `NAME=value` a line.
fn api_env(w: &World, host: &str) -> String {
    let id = w.container_of(host, "api");
    let out = Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{range .Config.Env}}{{println .}}{{end}}",
            &id,
        ])
        .output()
        .unwrap();
    stdout(&out)
}

fn license_id(w: &World) -> String {
    let list = w.vendor_json(&["license", "list", "--json"]);
    list[0]["id"].as_str().unwrap().to_string()
}

#[test]
fn entitlements_reach_the_container_and_the_license_expires_with_grace() {
    let w = World::new("entitled");
    let id = license_id(&w);
    let shown = w.vendor_ok(&[
        "license",
        "update",
        &id,
        "--entitlement",
        "max_users=int:50",
    ]);
    assert!(shown.contains("max_users=int:50"), "{shown}");
    let spec = Spec {
        entitlement_env: true,
        ..Spec::default()
    };
    w.release("1.0.0", spec);
    w.install("h");
    w.sync_ok("h");
    assert!(
        api_env(&w, "h").lines().any(|l| l == "MAX_USERS=50"),
        "{}",
        api_env(&w, "h")
    );

    // The customer cannot set it.
    let refused = w.driftless(
        "h",
        &["config", "set", "DRIFTLESS_ENTITLEMENT_MAX_USERS=500"],
    );
    assert_exit(&refused, INVALID_INPUT, "config set of an entitlement");
    assert!(
        stderr(&refused).contains("read-only"),
        "{}",
        stderr(&refused)
    );

    // The vendor changes it: the next sync applies it, with no new release.
    w.vendor_ok(&[
        "license",
        "update",
        &id,
        "--entitlement",
        "max_users=int:60",
    ]);
    w.sync_ok("h");
    let env = api_env(&w, "h");
    assert!(env.lines().any(|l| l == "MAX_USERS=60"), "{env}");
    w.assert_runs("h", "1.0.0");

    // Expired, in its grace period: the app keeps running and the host is told.
    w.vendor_ok(&[
        "license",
        "update",
        &id,
        "--expires",
        "2020-01-01",
        "--grace",
        "36500d",
    ]);
    let warned = w.sync_ok("h");
    let said = format!("{}{}", stdout(&warned), stderr(&warned));
    assert!(said.contains("license expired"), "{said}");
    let status = w.status("h");
    assert!(
        status["notice"]
            .as_str()
            .unwrap_or("")
            .contains("license expired"),
        "{status}"
    );
    // Past its grace: refused with exit 21, the app left running.
    w.vendor_ok(&["license", "update", &id, "--grace", "0s"]);
    let refused = w.sync("h");
    assert_exit(&refused, LICENSE_REFUSED, "sync past the grace period");
    assert!(
        stderr(&refused).contains("grace period is over"),
        "{}",
        stderr(&refused)
    );
    w.assert_runs("h", "1.0.0");
}

#[test]
fn an_install_beyond_the_seats_is_refused_with_exit_21() {
    let w = World::new("seats");
    let id = license_id(&w);
    w.vendor_ok(&["license", "update", &id, "--seats", "1"]);
    w.release("1.0.0", Spec::default());
    w.install("h1");
    let second = w.install_with("h2", &w.license);
    assert_exit(&second, LICENSE_REFUSED, "install beyond the seats");
    assert!(
        stderr(&second).contains("no seat left"),
        "{}",
        stderr(&second)
    );
}
