//! End to end on the real engine and registry: `driftless support-bundle` collects
//! every part it promises and no secret, token or key the test used (grepped in the
//! whole decompressed bundle); `--upload` reaches the vendor, who lists, downloads and
//! analyzes it with the release's analyzers; a bundle over the control plane's cap is
//! refused before it is sent, and one signed with another install's key is refused.
//! Needs `cargo build --bins` first.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Output, Stdio};

use driftless_test_support::process::{
    assert_exit, assert_refused_with_hint, assert_success, stdout,
};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::world::World;
use serde_json::Value;

const DB_PASSWORD: &str = "pw-Zq81-never-in-a-bundle";
const API_TOKEN: &str = "tok-Hc55-never-in-a-bundle";
const GREETING: &str = "Hello-from-the-bundle-test";

/// Release 1.0.0 of the world's app: web logs the secrets it was given and a database
/// error an analyzer knows; the release declares two analyzers.
fn release(w: &World) {
    let built = w.build("1.0.0", Spec::default());
    let app = &w.app;
    let compose = format!(
        r#"x-driftless:
  config:
    - {{name: GREETING, type: string, default: Hello}}
    - {{name: DB_PASSWORD, type: string, secret: true}}
    - {{name: API_TOKEN, type: string, secret: true}}
  analyzers:
    - {{name: db-auth, service: web, pattern: 'password authentication failed for user \w+', message: 'the database refused DB_PASSWORD; set it again with `driftless config set DB_PASSWORD -`'}}
    - {{name: disk-full, pattern: 'No space left on device', message: 'the disk is full'}}
services:
  web:
    image: {app}/web:1.0.0
    network_mode: bridge
    environment:
      GREETING: ${{GREETING}}
      DB_PASSWORD: ${{DB_PASSWORD}}
      API_TOKEN: ${{API_TOKEN}}
    command: ["/bin/busybox", "sh", "-c", "echo \"greeting $$GREETING; connecting with $$DB_PASSWORD and Authorization: Bearer $$API_TOKEN\"; echo 'FATAL: password authentication failed for user app'; exec /bin/busybox httpd -f -p 8080 -h /www"]
  api:
    image: {app}/api:1.0.0
    network_mode: bridge
    environment:
      GREETING: ${{GREETING}}
"#
    );
    let path = built.with_file_name("bundle-1.0.0.yaml");
    std::fs::write(&path, compose).unwrap();
    w.publish("1.0.0", &path);
    w.promote("1.0.0", "stable");
}

/// Runs `driftless args…` on `host` with `input` on standard input.
fn driftless_with_input(w: &World, host: &str, args: &[&str], input: &str) -> Output {
    let mut child = w
        .cli(host)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Installs and converges `host` with the secrets set, after web has logged them.
fn converged_host_with_secrets(w: &World, host: &str) -> String {
    let id = w.install(host);
    w.sync_ok(host);
    for (name, value) in [("DB_PASSWORD", DB_PASSWORD), ("API_TOKEN", API_TOKEN)] {
        let out = driftless_with_input(w, host, &["config", "set", name, "-"], value);
        assert_success(&out, "driftless config set");
    }
    let out = w.driftless(host, &["config", "set", &format!("GREETING={GREETING}")]);
    assert_success(&out, "driftless config set GREETING");
    w.sync_ok(host);
    id
}

/// The files of a bundle, by path under `support-bundle/`.
fn unpack(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut files = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let name = path.strip_prefix("support-bundle/").unwrap().to_string();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        files.insert(name, content);
    }
    files
}

fn json(files: &BTreeMap<String, Vec<u8>>, name: &str) -> Value {
    let bytes = files
        .get(name)
        .unwrap_or_else(|| panic!("the bundle has no {name}: {:?}", files.keys()));
    serde_json::from_slice(bytes).unwrap()
}

/// Every secret, token and key the host's world holds: the config secrets, the
/// license key, the operator token, the install's private key and its session key.
fn secrets_of(w: &World, state: &Path) -> Vec<String> {
    let mut secrets = vec![
        DB_PASSWORD.to_string(),
        API_TOKEN.to_string(),
        w.license.clone(),
        w.stack.token.clone(),
    ];
    let pem = std::fs::read_to_string(state.join("keys/install.pem")).unwrap();
    secrets.extend(
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .map(String::from),
    );
    if let Ok(session) = std::fs::read(state.join("session.json")) {
        let session: Value = serde_json::from_slice(&session).unwrap();
        let key = session["key"].as_str().unwrap().to_string();
        secrets.push(key);
    }
    secrets
}

/// Asserts the whole decompressed bundle holds none of `secrets`.
fn assert_no_secret(files: &BTreeMap<String, Vec<u8>>, secrets: &[String]) {
    for (name, content) in files {
        let text = String::from_utf8_lossy(content);
        for secret in secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{name} holds a secret ({} bytes long): {text}",
                secret.len()
            );
        }
    }
}

#[test]
fn a_support_bundle_has_every_part_and_no_secret_and_reaches_the_vendor() {
    let w = World::new("bundle");
    release(&w);
    let id = converged_host_with_secrets(&w, "h1");
    let state = w.state_dir("h1");
    let local = w.stack.dir.path().join("local.tar.gz");
    let out = w.driftless(
        "h1",
        &["support-bundle", "-o", local.to_str().unwrap(), "--upload"],
    );
    assert_success(&out, "driftless support-bundle --upload");
    let number = stdout(&out).lines().last().unwrap().trim().to_string();
    let bytes = std::fs::read(&local).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&local).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the bundle is readable by others: {mode:o}"
    );

    let files = unpack(&bytes);
    for name in [
        "manifest.json",
        "status.json",
        "sync.json",
        "config.json",
        "host.json",
        "compose-ps.json",
        "releases/1.0.0/release.json",
        "releases/1.0.0/assignment.json",
        "releases/1.0.0/descriptor.yaml",
        "releases/1.0.0/compose.yaml",
    ] {
        assert!(files.contains_key(name), "no {name}: {:?}", files.keys());
    }
    assert!(
        !files.keys().any(|f| f.ends_with("app.env")),
        "{:?}",
        files.keys()
    );
    assert_eq!(json(&files, "status.json")["current_version"], "1.0.0");
    assert_eq!(json(&files, "sync.json")["status"], "converged");
    let config = json(&files, "config.json");
    assert_eq!(config["install_id"], id.as_str(), "{config}");
    assert_eq!(config["values"]["GREETING"], GREETING, "{config}");
    assert_eq!(config["values"]["DB_PASSWORD"], "[REDACTED]", "{config}");
    let host = json(&files, "host.json");
    assert!(host["engine"]["version"]["version"].is_string(), "{host}");
    assert!(host["host"]["memory_total_bytes"].is_u64(), "{host}");
    let ps = json(&files, "compose-ps.json");
    let services: Vec<&str> = ps
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["api", "web"], "{ps}");
    let web_container = ps[1]["name"].as_str().unwrap();
    let web_log =
        String::from_utf8_lossy(&files[&format!("logs/{web_container}.log")]).into_owned();
    assert!(
        web_log.contains(&format!("greeting {GREETING}; connecting with [REDACTED]")),
        "the log is kept, its secrets redacted: {web_log}"
    );
    assert!(
        web_log.contains("password authentication failed"),
        "{web_log}"
    );
    assert_no_secret(&files, &secrets_of(&w, &state));

    // The vendor: list, download (the same bytes), analyze, and the audit log.
    let listed = w.vendor_json(&["support-bundle", "list", "--install", &id, "--json"]);
    assert_eq!(listed[0]["id"].to_string(), number, "{listed}");
    assert_eq!(listed[0]["size"], bytes.len(), "{listed}");
    let got = w.stack.dir.path().join("got.tar.gz");
    w.vendor_ok(&[
        "support-bundle",
        "get",
        "--install",
        &id,
        "-o",
        got.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&got).unwrap(), bytes);
    for source in [vec!["--install", id.as_str()], vec![got.to_str().unwrap()]] {
        let mut args = vec!["support-bundle", "analyze", "--json"];
        args.extend(source);
        let report = w.vendor_json(&args);
        let findings = report["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 1, "{report}");
        assert_eq!(findings[0]["analyzer"], "db-auth", "{report}");
        assert_eq!(findings[0]["service"], "web", "{report}");
        assert!(
            findings[0]["message"]
                .as_str()
                .unwrap()
                .contains("DB_PASSWORD"),
            "{report}"
        );
        assert_eq!(report["analyzers"], 2, "{report}");
    }
    let text = w.vendor_ok(&["support-bundle", "analyze", "--install", &id]);
    assert!(text.contains("found db-auth in web"), "{text}");
    let audit = w.vendor_json(&["audit", "--json"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"]["action"].as_str())
        .filter(|a| a.starts_with("support_bundle."))
        .collect();
    assert_eq!(
        actions,
        // `get`, then `analyze --install` twice; the upload first.
        [
            "support_bundle.download",
            "support_bundle.download",
            "support_bundle.download",
            "support_bundle.upload"
        ],
        "{audit}"
    );
}

#[test]
fn an_oversized_bundle_or_one_signed_by_another_install_is_refused() {
    let mut w = World::new("bundlecap");
    w.release("1.0.0", Spec::default());
    let id = w.install("h1");
    w.sync_ok("h1");
    w.set_server_setting("max_support_bundle_bytes", 1000);

    let out = w.driftless("h1", &["support-bundle", "--upload"]);
    assert_refused_with_hint(&out, 19, "an oversized support bundle");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("accepts at most 1000"), "{err}");
    let listed = w.vendor_json(&["support-bundle", "list", "--install", &id, "--json"]);
    assert_eq!(listed, serde_json::json!([]), "nothing was stored");

    // h1 signing with h2's key: the control plane refuses it.
    w.set_server_setting("max_support_bundle_bytes", 20 << 20);
    w.install("h2");
    let h1_key = w.state_dir("h1").join("keys/install.pem");
    std::fs::copy(w.state_dir("h2").join("keys/install.pem"), &h1_key).unwrap();
    let out = w.driftless("h1", &["support-bundle", "--upload"]);
    assert_exit(&out, 7, "a bundle signed by another install");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("signature does not verify"), "{err}");
    let listed = w.vendor_json(&["support-bundle", "list", "--install", &id, "--json"]);
    assert_eq!(listed, serde_json::json!([]), "nothing was stored");
}
