//! End to end: syncs check in with a check-in session kept in `session.json` (mode
//! 0600, its key never printed), reused while it lives, replaced before it expires,
//! and reopened (with one retry) when the control plane no longer knows it. Needs
//! `cargo build --bins` first.
#![allow(clippy::unwrap_used)]

use driftless_test_support::process::{stderr, stdout};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::world::World;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Runs a sync that must succeed without the session key in its output; returns the
/// session file after it.
fn sync_keeping_the_key_quiet(w: &World, path: &Path) -> Value {
    let out = w.sync_ok("h");
    let session = read(path);
    let key = session["key"].as_str().unwrap();
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !printed.contains(key),
        "the session key was printed: {printed}"
    );
    session
}

#[test]
fn syncs_use_a_private_session_renewed_before_expiry_and_reopened_when_refused() {
    let w = World::new("session");
    w.release("1.0.0", Spec::PORTS);
    w.install("h");
    let path = w.state_dir("h").join("session.json");
    let first = sync_keeping_the_key_quiet(&w, &path);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "session.json is readable by others");
    assert_eq!(first["kind"], "open", "{first}");

    // Reused while it lives.
    let again = sync_keeping_the_key_quiet(&w, &path);
    assert_eq!(again["session_id"], first["session_id"]);

    // One the control plane does not know: refused, reopened, the check-in retried.
    let mut forgotten = again.clone();
    forgotten["session_id"] = "s_forgotten".into();
    std::fs::write(&path, serde_json::to_vec(&forgotten).unwrap()).unwrap();
    let reopened = sync_keeping_the_key_quiet(&w, &path);
    assert_ne!(reopened["session_id"], "s_forgotten");
    assert_ne!(reopened["session_id"], first["session_id"]);

    // One that expires within five minutes is replaced before use.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut expiring = reopened.clone();
    expiring["expires_at"] = (now + 60).into();
    std::fs::write(&path, serde_json::to_vec(&expiring).unwrap()).unwrap();
    let renewed = sync_keeping_the_key_quiet(&w, &path);
    assert_ne!(renewed["session_id"], reopened["session_id"]);
    assert!(renewed["expires_at"].as_i64().unwrap() > now + 3600);
    w.assert_serves_on_ports("1.0.0");
}
