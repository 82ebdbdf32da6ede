//! End to end: the real `driftless-vendor serve`, the real registry (CNCF distribution
//! with token auth) and the real Docker Engine, driven through the two binaries the way a
//! vendor and a customer would. Each test owns its stack, app, compose project and host
//! ports, and removes its containers when it ends, pass or fail.
//!
//! Needs `cargo build --bins` first (scripts/test does); a missing Docker Engine or
//! registry fails the tests, it never skips them.
#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use driftless_exit::code::{
    DISK_FULL, INVALID_INPUT, NOT_FOUND, PROTOCOL, REGISTRY, UNAUTHORIZED, UNREACHABLE,
    VERIFICATION,
};
use driftless_test_support::hostile_control_plane::{MalformedControlPlane, TamperingProxy};
use driftless_test_support::http_probe::http_body;
use driftless_test_support::process::{assert_exit, assert_success, exit_code, stderr, stdout};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::stack::free_port;
use driftless_test_support::world::{unique, World};
use serde_json::Value;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::Command;

/// Changes one ASCII letter of `bytes` to another letter: same length, other content.
fn flip_one_letter(bytes: &mut [u8], from: usize) {
    let at = (from..bytes.len())
        .find(|&i| bytes[i].is_ascii_lowercase() && bytes[i] != b'z')
        .expect("no lowercase letter to change");
    bytes[at] += 1;
}

/// The JWT's claims.
fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&B64URL.decode(payload).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------
// The tests.

#[test]
fn upgrade_from_1_0_0_to_2_0_0_serves_the_new_release_and_the_fleet_sees_it() {
    let w = World::new("upgrade");
    w.release("1.0.0", Spec::PORTS);
    let install_id = w.install("h");
    w.sync_ok("h");
    w.assert_serves_on_ports("1.0.0");

    w.release("2.0.0", Spec::PORTS);
    let out = w.sync_ok("h");
    assert!(
        stderr(&out).contains("converged on 2.0.0"),
        "sync said: {}",
        stderr(&out)
    );
    w.assert_serves_on_ports("2.0.0");

    let status = w.status("h");
    assert_eq!(status["install_id"], install_id.as_str());
    assert_eq!(status["app"], w.app.as_str());
    assert_eq!(status["channel"], "stable");
    assert_eq!(status["status"], "converged");
    assert_eq!(status["current_version"], "2.0.0");
    assert_eq!(status["assigned_version"], "2.0.0");
    assert_eq!(status["last_error"], Value::Null);
    let services = status["services"].as_array().unwrap();
    assert_eq!(services.len(), 2, "status services: {services:?}");
    for s in services {
        assert_eq!(s["state"], "running", "{s}");
        assert_eq!(s["health"], "healthy", "{s}");
        assert!(
            s["image"].as_str().unwrap().contains('@'),
            "image not pinned: {s}"
        );
    }

    let fleet: Value = serde_json::from_str(
        &w.stack
            .vendor_ok(&["fleet", "--app", &w.app, "--json"])
            .unwrap(),
    )
    .unwrap();
    let entry = fleet
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == install_id.as_str())
        .unwrap_or_else(|| panic!("install {install_id} missing from fleet: {fleet}"));
    assert_eq!(entry["current_version"], "2.0.0", "fleet entry: {entry}");
}

#[test]
fn second_sync_is_a_304_and_touches_nothing() {
    let w = World::new("noop");
    w.release("1.0.0", Spec::PORTS);
    w.install("h");
    w.sync_ok("h");
    let before = w.all_containers("h");
    assert_eq!(before.len(), 2);
    let sync_json = w.state_dir("h").join("sync.json");
    let record: Value = serde_json::from_slice(&std::fs::read(&sync_json).unwrap()).unwrap();
    let etag = record["etag"].clone();
    assert!(
        etag.is_string(),
        "no etag held after the first sync: {record}"
    );
    // A 200 rewrites the stored assignment (write-and-rename: a new inode); a 304 cannot.
    let assignment = w.state_dir("h").join("releases/1.0.0/assignment.json");
    let inode = std::fs::metadata(&assignment).unwrap().ino();

    let out = w.sync_ok("h");

    assert!(
        stderr(&out).contains("nothing changed"),
        "sync said: {}",
        stderr(&out)
    );
    assert_eq!(w.all_containers("h"), before, "containers were recreated");
    assert_eq!(w.running_containers("h"), before);
    let record: Value = serde_json::from_slice(&std::fs::read(&sync_json).unwrap()).unwrap();
    assert_eq!(record["etag"], etag);
    assert_eq!(
        std::fs::metadata(&assignment).unwrap().ino(),
        inode,
        "the assignment was rewritten: the control plane answered 200, not 304"
    );
    w.assert_serves_on_ports("1.0.0");
}

#[test]
fn config_set_refuses_bad_input_unchanged_and_applies_a_valid_change() {
    let w = World::new("config");
    w.release("1.0.0", Spec::PORTS);
    w.install("h");
    w.sync_ok("h");
    let config = w.state_dir("h").join("config.toml");
    let original = std::fs::read(&config).unwrap();

    let out = w.driftless("h", &["config", "set", "NO_SUCH_KEY=1"]);
    assert_exit(&out, INVALID_INPUT, "config set of an unknown key");
    assert!(
        stderr(&out).contains("NO_SUCH_KEY"),
        "stderr: {}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(&config).unwrap(),
        original,
        "config.toml changed"
    );

    for bad in ["WEB_PORT=not-a-port", "WEB_PORT=70000"] {
        let out = w.driftless("h", &["config", "set", bad]);
        assert_exit(&out, INVALID_INPUT, &format!("config set {bad}"));
        assert_eq!(
            std::fs::read(&config).unwrap(),
            original,
            "config.toml changed by {bad}"
        );
    }
    // All pairs are checked before any is written.
    let out = w.driftless("h", &["config", "set", "GREETING=Bonjour", "API_PORT=0x50"]);
    assert_exit(&out, INVALID_INPUT, "config set with one bad pair");
    assert_eq!(
        std::fs::read(&config).unwrap(),
        original,
        "config.toml partly written"
    );

    let web_before = w.container_of("h", "web");
    let new_port = free_port().unwrap();
    let out = w.driftless(
        "h",
        &[
            "config",
            "set",
            "GREETING=Bonjour",
            &format!("WEB_PORT={new_port}"),
        ],
    );
    assert_success(&out, "config set of valid values");
    let get = w.driftless("h", &["config", "get", "GREETING"]);
    assert_success(&get, "config get");
    assert_eq!(stdout(&get).trim(), "Bonjour");

    w.sync_ok("h");

    let env = std::fs::read_to_string(w.state_dir("h").join("current/app.env")).unwrap();
    assert!(
        env.lines().any(|l| l == "GREETING=Bonjour"),
        "app.env: {env}"
    );
    assert!(
        env.lines().any(|l| l == format!("WEB_PORT={new_port}")),
        "app.env: {env}"
    );
    let web_after = w.container_of("h", "web");
    assert_ne!(web_after, web_before, "web was not recreated");
    let inspect = Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{range .Config.Env}}{{println .}}{{end}}",
            &web_after,
        ])
        .output()
        .unwrap();
    assert!(
        stdout(&inspect).lines().any(|l| l == "GREETING=Bonjour"),
        "web's environment: {}",
        stdout(&inspect)
    );
    assert_eq!(http_body(new_port), "web 1.0.0");
    assert_eq!(http_body(w.api_port), "api 1.0.0");
    assert_eq!(w.status("h")["status"], "converged");
}

#[test]
fn wrong_license_is_refused_and_a_revoked_license_stops_syncs_but_not_the_app() {
    let w = World::new("license");
    w.release("1.0.0", Spec::PORTS);

    let out = w.install_with("stranger", "not-a-license-key");
    assert_exit(&out, UNAUTHORIZED, "install with a wrong license");
    assert!(
        !w.state_dir("stranger").join("config.toml").exists(),
        "a refused install left a config.toml"
    );

    w.install("h");
    w.sync_ok("h");
    let before = w.running_containers("h");
    assert_eq!(before.len(), 2);

    let licenses: Value =
        serde_json::from_str(&w.stack.vendor_ok(&["license", "list", "--json"]).unwrap()).unwrap();
    let id = licenses
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["app"] == w.app.as_str())
        .and_then(|l| l["id"].as_str())
        .unwrap_or_else(|| panic!("no license of {} in {licenses}", w.app))
        .to_string();
    w.stack.vendor_ok(&["license", "revoke", &id]).unwrap();

    let out = w.sync("h");
    assert_exit(&out, UNAUTHORIZED, "sync with a revoked license");
    assert_eq!(w.all_containers("h"), before, "containers changed");
    assert_eq!(w.running_containers("h"), before, "containers stopped");
    w.assert_serves_on_ports("1.0.0");
}

#[test]
fn unknown_channel_and_unknown_app_are_not_found_and_upload_nothing() {
    let w = World::new("names");
    let compose = w.build("1.0.0", Spec::PORTS);
    w.publish("1.0.0", &compose);
    let compose = compose.to_str().unwrap();

    let out = w
        .stack
        .vendor()
        .args([
            "promote",
            "--app",
            &w.app,
            "--version",
            "1.0.0",
            "--channel",
            "no-such-channel",
        ])
        .output()
        .unwrap();
    assert_exit(&out, NOT_FOUND, "promote to an unknown channel");
    assert!(
        stderr(&out).contains("no-such-channel"),
        "stderr: {}",
        stderr(&out)
    );

    let ghost = unique("ghost");
    let before = w.stack.registry.repositories();
    let out = w
        .stack
        .vendor()
        .args([
            "publish",
            "--app",
            &ghost,
            "--version",
            "1.0.0",
            "--compose",
            compose,
        ])
        .output()
        .unwrap();
    assert_exit(&out, NOT_FOUND, "publish to an unknown app");
    assert!(stderr(&out).contains(&ghost), "stderr: {}", stderr(&out));
    let listed = w
        .stack
        .vendor()
        .args(["releases", "--app", &ghost, "--json"])
        .output()
        .unwrap();
    if listed.status.success() {
        let list: Value = serde_json::from_slice(&listed.stdout).unwrap();
        assert_eq!(
            list,
            serde_json::json!([]),
            "releases of an app that does not exist"
        );
    } else {
        assert_exit(&listed, NOT_FOUND, "releases of an unknown app");
    }
    assert_eq!(
        w.stack.registry.repositories(),
        before,
        "publish uploaded to the registry"
    );
    assert!(!before.contains(&ghost));
}

#[test]
fn release_document_changed_by_one_byte_is_refused_and_the_running_release_stays() {
    let w = World::new("tamper");
    w.release("1.0.0", Spec::PORTS);
    w.install("h");
    w.sync_ok("h");
    let before = w.running_containers("h");

    w.release("2.0.0", Spec::PORTS);
    // From here on the host's answers pass through a man in the middle (or come from a
    // compromised control plane) that changes one byte of the release document's
    // signed payload, keeping it a well-formed release document.
    let proxy = TamperingProxy::start(&w.stack.url()).unwrap();
    w.point_host_at("h", &proxy.url());

    let out = w.sync("h");
    assert!(
        proxy.tampered() >= 1,
        "the proxy changed no release document: {}",
        stderr(&out)
    );
    assert_exit(&out, VERIFICATION, "sync of a tampered release document");
    assert_eq!(
        w.running_containers("h"),
        before,
        "the running app was touched"
    );
    w.assert_serves_on_ports("1.0.0");
    let status = w.status("h");
    assert_eq!(status["current_version"], "1.0.0");
    let s = status["status"].as_str().unwrap();
    assert!(
        s.starts_with("failed:") && s.len() > "failed:".len(),
        "status: {status}"
    );
    assert!(
        status["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "status: {status}"
    );
}

#[test]
fn descriptor_blob_with_a_wrong_digest_is_refused_and_nothing_is_applied() {
    let w = World::new("blob");
    w.release("1.0.0", Spec::PORTS);
    let doc = w.release_document("1.0.0");
    let digest = doc["descriptor"]["digest"].as_str().unwrap().to_string();
    let path = w.stack.registry.blob_path(&digest).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    flip_one_letter(&mut bytes, 0);
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, len);

    w.install("fresh");
    let out = w.sync("fresh");
    assert!(
        matches!(exit_code(&out), Some(REGISTRY | VERIFICATION)),
        "sync with a corrupt descriptor blob exited {:?}\nstderr: {}",
        out.status.code(),
        stderr(&out)
    );
    assert_exit(
        &out,
        exit_code(&out).unwrap(),
        "sync with a corrupt descriptor blob",
    );
    assert_eq!(
        w.all_containers("fresh"),
        Vec::<String>::new(),
        "containers were created"
    );
    let status = w.status("fresh");
    assert_eq!(status["current_version"], Value::Null, "status: {status}");
    assert!(
        status["status"].as_str().unwrap().starts_with("failed:"),
        "status: {status}"
    );
}

#[test]
fn malformed_answer_from_the_control_plane_exits_11_and_leaves_the_app() {
    let w = World::new("malformed");
    w.release("1.0.0", Spec::PORTS);
    w.install("h");
    w.sync_ok("h");
    let before = w.running_containers("h");

    let fake = MalformedControlPlane::start().unwrap();
    w.point_host_at("h", &fake.url());

    let out = w.sync("h");
    assert_exit(&out, PROTOCOL, "sync against a malformed answer");
    assert_eq!(w.all_containers("h"), before, "containers changed");
    assert_eq!(w.running_containers("h"), before, "containers stopped");
    w.assert_serves_on_ports("1.0.0");
}

#[test]
fn control_plane_down_exits_6_leaves_the_app_and_recovers() {
    let mut w = World::new("cpdown");
    w.release("1.0.0", Spec::PORTS);
    w.install("h");
    w.sync_ok("h");
    let before = w.running_containers("h");

    w.stack.stop_control();
    let out = w.sync("h");
    assert_exit(&out, UNREACHABLE, "sync with the control plane down");
    assert_eq!(w.all_containers("h"), before, "containers changed");
    assert_eq!(w.running_containers("h"), before, "containers stopped");
    w.assert_serves_on_ports("1.0.0");

    w.stack.start_control().unwrap();
    w.sync_ok("h");
    assert_eq!(w.running_containers("h"), before);
    assert_eq!(w.status("h")["status"], "converged");
}

#[test]
fn registry_down_during_an_upgrade_exits_8_and_keeps_1_0_0() {
    let mut w = World::new("regdown");
    w.release("1.0.0", Spec::PORTS);
    w.install("h");
    w.sync_ok("h");
    let before = w.running_containers("h");

    w.release("2.0.0", Spec::PORTS);
    w.stack.registry.stop();
    let out = w.sync("h");
    assert_exit(&out, REGISTRY, "sync with the registry down");
    assert_eq!(w.all_containers("h"), before, "containers changed");
    assert_eq!(w.running_containers("h"), before, "containers stopped");
    w.assert_serves_on_ports("1.0.0");
    assert_eq!(w.status("h")["current_version"], "1.0.0");
}

#[test]
fn an_install_credential_yields_no_access_to_another_apps_repositories() {
    let w = World::new("scope-a");
    w.release("1.0.0", Spec::PORTS);
    let other = unique("scope-b");
    w.stack.app_with_license(&other).unwrap();
    w.release_app(&other, "1.0.0", Spec::PORTS);
    w.install("a");

    let login = w.driftless("a", &["registry-login"]);
    assert_success(&login, "driftless registry-login");
    let line = stdout(&login);
    let (user, password) = line.trim().split_once(' ').unwrap();

    let http = reqwest::blocking::Client::new();
    let token_for = |repo: &str| -> String {
        let resp = http
            .get(format!("{}/v1/registry/token", w.stack.url()))
            .query(&[
                ("service", "driftless-registry"),
                ("scope", &format!("repository:{repo}:pull")),
            ])
            .basic_auth(user, Some(password))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200, "token endpoint for {repo}");
        let body: Value = resp.json().unwrap();
        body["token"].as_str().unwrap().to_string()
    };
    let manifest_status = |repo: &str, digest: &str, token: &str| -> u16 {
        http.get(format!("http://{}/v2/{repo}/manifests/{digest}", w.stack.registry.host()))
            .bearer_auth(token)
            .header(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
            )
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let web_digest = |app: &str| -> String {
        let doc = w.stack.release_document(app, "1.0.0").unwrap();
        let image = doc["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["service"] == "web")
            .unwrap()
            .clone();
        image["digest"].as_str().unwrap().to_string()
    };

    // Release 1.0.0 of each app is release counter 1, in repositories of its own.
    let foreign = token_for(&format!("{other}/r1/web"));
    let claims = jwt_claims(&foreign);
    assert_eq!(claims["sub"], user, "claims: {claims}");
    assert_eq!(claims["access"], serde_json::json!([]), "claims: {claims}");
    assert_eq!(
        manifest_status(&format!("{other}/r1/web"), &web_digest(&other), &foreign),
        401
    );

    let own_repo = format!("{}/r1/web", w.app);
    let own = token_for(&own_repo);
    let claims = jwt_claims(&own);
    assert_eq!(
        claims["access"],
        serde_json::json!([{"type": "repository", "name": own_repo, "actions": ["pull"]}]),
        "claims: {claims}"
    );
    assert_eq!(manifest_status(&own_repo, &web_digest(&w.app), &own), 200);
    // The other app's manifest stays out of reach with the install's own token too.
    assert_eq!(
        manifest_status(&format!("{other}/r1/web"), &web_digest(&other), &own),
        401
    );
}

// ---------------------------------------------------------------------------------------
// A host that does not have the images: the real pull through the Engine API.

/// Removes every local image tagged under `app/`, so a host must pull it.
fn forget_images(app: &str) {
    let out = Command::new("docker")
        .args(["image", "ls", "--format", "{{.ID}} {{.Repository}}"])
        .output()
        .unwrap();
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("{app}/")))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(!ids.is_empty(), "no local images of {app} to remove");
    let out = Command::new("docker")
        .args(["rmi", "-f"])
        .args(&ids)
        .output()
        .unwrap();
    assert_success(&out, "docker rmi");
}

#[test]
fn a_host_without_the_images_checks_disk_then_pulls_them_by_digest_with_its_token() {
    let w = World::new("pull");
    // Image bytes no other test shares, so the engine has no copy to fall back on.
    w.release(
        "1.0.0",
        Spec {
            unique_images: true,
            ..Spec::PORTS
        },
    );
    forget_images(&w.app);
    w.install("h");

    // Too little disk: refused before pulling anything, and said why.
    let out = w
        .cli("h")
        .env("DRIFTLESS_TEST_FREE_DISK_BYTES", "1")
        .arg("sync")
        .output()
        .unwrap();
    assert_exit(&out, DISK_FULL, "sync with a full disk");
    assert!(
        stderr(&out).contains("not enough disk space"),
        "{}",
        stderr(&out)
    );
    assert!(w.all_containers("h").is_empty(), "containers were created");
    let status = w.status("h");
    assert_eq!(status["reason"]["code"], "disk_full", "{status}");

    // Enough disk: the engine pulls every image by digest with the scoped token.
    let out = w.sync_ok("h");
    assert!(stderr(&out).contains("pulled web"), "{}", stderr(&out));
    assert_eq!(http_body(w.web_port), format!("web 1.0.0 of {}", w.app));
    assert_eq!(http_body(w.api_port), format!("api 1.0.0 of {}", w.app));
    let digests = Command::new("docker")
        .args([
            "image",
            "ls",
            "--digests",
            "--format",
            "{{.Repository}}@{{.Digest}}",
        ])
        .output()
        .unwrap();
    let listed = stdout(&digests);
    let pulled = format!("{}/{}/r1/web@sha256:", w.stack.registry.host(), w.app);
    assert!(listed.contains(&pulled), "no {pulled}… in:\n{listed}");
    // The token never reached the disk.
    let token_on_disk = Command::new("grep")
        .args([
            "-rlE",
            r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
        ])
        .arg(w.state_dir("h"))
        .output()
        .unwrap();
    assert!(
        token_on_disk.stdout.is_empty(),
        "a JWT was written to {}",
        stdout(&token_on_disk)
    );
}

// ---------------------------------------------------------------------------------------
// Key rotation while the fleet keeps converging.

/// Runs `driftless-vendor keys …` on the stack's data dir and returns the new root version.
fn rotate(w: &World, args: &[&str]) -> u64 {
    let out = w
        .stack
        .vendor()
        .arg("keys")
        .args(args)
        .arg("--data-dir")
        .arg(w.stack.data_dir())
        .output()
        .unwrap();
    assert_success(&out, &format!("keys {}", args.join(" ")));
    stdout(&out).trim().parse().unwrap()
}

fn held_root_version(w: &World, host: &str) -> u64 {
    let trust: Value =
        serde_json::from_slice(&std::fs::read(w.state_dir(host).join("trust/trust.json")).unwrap())
            .unwrap();
    trust["root"]["version"].as_u64().unwrap()
}

#[test]
fn an_install_keeps_converging_across_director_root_release_and_token_rotations() {
    let mut w = World::new("rotate");
    w.release("1.0.0", Spec::PORTS);
    w.install("h");
    w.sync_ok("h");
    w.assert_serves_on_ports("1.0.0");

    // The director key: root 2 trusts the new key and the old one; serve signs with the new.
    assert_eq!(rotate(&w, &["rotate", "--role", "director"]), 2);
    w.stack.start_control().unwrap();
    w.sync_ok("h");
    assert_eq!(held_root_version(&w, "h"), 2, "the host walked to root 2");
    w.release("2.0.0", Spec::PORTS);
    w.sync_ok("h");
    w.assert_serves_on_ports("2.0.0");

    // The root keys themselves: root 3 is signed by two old root keys and its own.
    assert_eq!(rotate(&w, &["rotate-root"]), 3);
    w.stack.start_control().unwrap();
    w.release("3.0.0", Spec::PORTS);
    w.sync_ok("h");
    assert_eq!(held_root_version(&w, "h"), 3);
    w.assert_serves_on_ports("3.0.0");

    // The release key: vendor CI signs with the new key from now on.
    assert_eq!(rotate(&w, &["rotate", "--role", "release"]), 4);
    w.stack.start_control().unwrap();
    w.release("4.0.0", Spec::PORTS);
    w.sync_ok("h");
    assert_eq!(held_root_version(&w, "h"), 4);
    w.assert_serves_on_ports("4.0.0");

    // The registry-token key: the next certificate was in the registry's bundle from the
    // start, so tokens from the new key work without restarting the registry.
    assert_eq!(rotate(&w, &["rotate", "--role", "registry-token"]), 5);
    w.stack.start_control().unwrap();
    w.release("5.0.0", Spec::PORTS);
    w.sync_ok("h");
    w.assert_serves_on_ports("5.0.0");
    assert_eq!(w.status("h")["status"], "converged");

    let out = w
        .stack
        .vendor()
        .args(["keys", "list", "--json", "--data-dir"])
        .arg(w.stack.data_dir())
        .output()
        .unwrap();
    assert_success(&out, "keys list");
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listing["root_version"], 5);
    assert_eq!(
        listing["roles"]["release"]["keyids"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "old release key kept for the overlap"
    );
}

#[test]
fn a_release_signed_by_a_key_the_root_dropped_is_refused() {
    let w = World::new("dropped");
    w.release("1.0.0", Spec::PORTS);
    // Two release rotations: the first key is no longer in root 3.
    let first = std::fs::read(w.stack.data_dir().join("offline-keys/release.pem")).unwrap();
    rotate(&w, &["rotate", "--role", "release"]);
    rotate(&w, &["rotate", "--role", "release"]);
    let mut w = w;
    w.stack.start_control().unwrap();
    let old_key = w.stack.dir.path().join("first-release.pem");
    std::fs::write(&old_key, first).unwrap();
    let compose = w.build("2.0.0", Spec::PORTS);
    let out = w
        .stack
        .vendor()
        .env("DRIFTLESS_RELEASE_KEY_FILE", &old_key)
        .args([
            "publish",
            "--app",
            &w.app,
            "--version",
            "2.0.0",
            "--compose",
        ])
        .arg(&compose)
        .output()
        .unwrap();
    assert_exit(
        &out,
        INVALID_INPUT,
        "publish signed by a dropped release key",
    );
    assert!(
        stderr(&out).contains("is not trusted by root version 3"),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------------------
// An external signer holds the release key (`publish --sign-with CMD`).

/// A signer command around openssl (which cannot sign raw input from a pipe).
fn openssl_signer(key: &Path) -> String {
    format!(
        "f=$(mktemp) && cat > \"$f\" && openssl pkeyutl -sign -inkey '{}' -rawin -in \"$f\"; s=$?; rm -f \"$f\"; exit $s",
        key.display()
    )
}

/// Publishes 1.0.0 from `compose` signed by openssl holding `key`, with no key of its own.
fn publish_signed_by(w: &World, compose: &Path, key: &Path) -> std::process::Output {
    w.stack
        .vendor()
        .env_remove("DRIFTLESS_RELEASE_KEY_FILE")
        .args([
            "publish",
            "--app",
            &w.app,
            "--version",
            "1.0.0",
            "--compose",
        ])
        .arg(compose)
        .args(["--sign-with", &openssl_signer(key)])
        .output()
        .unwrap()
}

#[test]
fn a_release_signed_by_an_external_signer_reaches_the_host_and_a_foreign_one_uploads_nothing() {
    let w = World::new("signer");
    let compose = w.build("1.0.0", Spec::PORTS);
    let key = w.stack.data_dir().join("offline-keys/release.pem");

    // A signer holding some other key: refused before anything is pushed.
    let foreign = w.stack.dir.path().join("foreign.pem");
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&foreign)
        .output()
        .unwrap();
    assert_success(&made, "openssl genpkey");
    let out = publish_signed_by(&w, &compose, &foreign);
    assert_exit(
        &out,
        INVALID_INPUT,
        "publish with a foreign external signer",
    );
    assert!(
        stderr(&out).contains("not trusted by root version 1"),
        "{}",
        stderr(&out)
    );
    let repos = w.stack.registry.repositories_dir().join(&w.app);
    assert!(
        !repos.exists(),
        "something was pushed to {}",
        repos.display()
    );

    // The vendor's release key behind an external command: installs accept it.
    let out = publish_signed_by(&w, &compose, &key);
    assert_success(&out, "publish --sign-with");
    w.promote("1.0.0", "stable");
    w.install("h");
    w.sync_ok("h");
    w.assert_serves_on_ports("1.0.0");
}
