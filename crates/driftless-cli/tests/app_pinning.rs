//! End to end: a host is pinned to the app it installed. A compromised control plane
//! (it holds the director key) offers a host of one app another app's genuine,
//! release-signed release under an assignment it signs for that very install: the host
//! refuses it with its own exit code, one `error:` line and one `hint:` line, stores
//! and pulls nothing, keeps running its own app, and the fleet shows why. Needs
//! `cargo build --bins` first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use driftless_exit::code::WRONG_APP;
use driftless_test_support::hostile_control_plane::TamperingProxy;
use driftless_test_support::process::{assert_refused_with_hint, stderr};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::world::World;
use driftless_wire::release::{Assignment, ReleaseDocument};
use driftless_wire::{Digest, Envelope, ASSIGNMENT_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE};
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use ed25519_dalek::SigningKey;
use serde_json::Value;

/// The check-in answer `body` with its release document replaced by `other` and its
/// assignment re-signed by `director` to name it, for the same install and sequence:
/// what a control plane whose director key is stolen can send.
fn offer_other_app(body: &[u8], director: &SigningKey, other: &Envelope) -> Option<Vec<u8>> {
    let mut answer: Value = serde_json::from_slice(body).ok()?;
    let held: Envelope = serde_json::from_value(answer.get("assignment")?.clone()).ok()?;
    let mut a: Assignment = held.decode(ASSIGNMENT_PAYLOAD_TYPE, "assignment").ok()?;
    let r: ReleaseDocument = other.decode(RELEASE_PAYLOAD_TYPE, "release").ok()?;
    a.app = r.app;
    a.version = r.version;
    a.release_counter = r.release_counter;
    a.release_digest = Digest::of(&other.payload_bytes().ok()?);
    let payload = serde_json::to_vec(&a).ok()?;
    let signed = Envelope::sign(ASSIGNMENT_PAYLOAD_TYPE, &payload, &[director]);
    answer["assignment"] = serde_json::to_value(signed).ok()?;
    answer["release"] = serde_json::to_value(other).ok()?;
    serde_json::to_vec(&answer).ok()
}

/// The names under `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn mix_and_match_app_a_host_refuses_another_apps_release_and_keeps_running_its_own() {
    let w = World::new("pin");
    w.release("1.0.0", Spec::default());
    let id = w.install("h");
    w.sync_ok("h");
    w.assert_runs("h", "1.0.0");

    // Another app of the same vendor: its release is genuinely signed by the release key.
    let other = format!("{}-other", w.app);
    w.vendor_ok(&["app", "create", &other]);
    let compose = w.build_app(&other, "7.0.0", Spec::default());
    w.publish_app(&other, "7.0.0", &compose, &[]);
    let detail = w.stack.release(&other, "7.0.0").unwrap();
    let other_release: Envelope = serde_json::from_value(detail["envelope"].clone()).unwrap();
    let director_pem =
        std::fs::read_to_string(w.stack.data_dir().join("keys").join("director.pem")).unwrap();
    let director = SigningKey::from_pkcs8_pem(director_pem.trim()).unwrap();

    // A new release of the host's own app, so its next check-in is answered in full,
    // and the compromised control plane swaps the other app's release into the answer.
    w.release("2.0.0", Spec::default());
    let proxy = TamperingProxy::rewriting(
        &w.stack.url(),
        Arc::new(move |body: &[u8]| offer_other_app(body, &director, &other_release)),
    )
    .unwrap();
    w.point_host_at("h", &proxy.url());
    let state = w.state_dir("h");
    let trust_before = std::fs::read(state.join("trust").join("trust.json")).unwrap();
    let before = w.running_containers("h");

    let out = w.sync("h");
    assert!(
        proxy.tampered() >= 1,
        "the proxy offered nothing: {}",
        stderr(&out)
    );
    assert_refused_with_hint(&out, WRONG_APP, "sync offered another app's release");
    let text = stderr(&out);
    assert!(
        text.contains(&format!(
            "assignment is for app `{other}`, but this host installed app `{}`",
            w.app
        )),
        "{text}"
    );

    // Nothing changed on the host: same containers on its own app, same trust state,
    // no document of the other app stored (they are stored before anything is pulled).
    assert_eq!(
        w.running_containers("h"),
        before,
        "the running app was touched"
    );
    w.assert_runs("h", "1.0.0");
    assert_eq!(
        std::fs::read(state.join("trust").join("trust.json")).unwrap(),
        trust_before,
        "the trust state changed"
    );
    assert_eq!(entries(&state.join("releases")), ["1.0.0"]);
    let status = w.status("h");
    assert_eq!(status["reason"]["code"], "wrong_app", "{status}");
    let row = w.fleet_row(&id);
    assert_eq!(row["reason"]["code"], "wrong_app", "{row}");
    assert_eq!(row["current_version"], "1.0.0", "{row}");
    assert!(
        row["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("failed:wrong_app")),
        "{row}"
    );
}
