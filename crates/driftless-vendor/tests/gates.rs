#![allow(clippy::unwrap_used)]
//! SBOMs and promotion gates against the real registry and control plane, with small
//! SBOM and OSV fixtures written here: a denied licence blocks `promote`, a critical
//! advisory blocks `rollout start`, an override passes and is audited, a channel that
//! requires SBOMs refuses a release without one, and the SBOM digest the signed
//! release names is the registry copy's.

use std::path::Path;
use std::process::Output;

use driftless_exit::code;
use driftless_test_support::images::build_http_image;
use driftless_test_support::stack::Stack;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const APP: &str = "acme";

/// A stack with app `acme` (channel `stable`) and release 1.0.0 of one service `web`
/// published with the extra `publish` arguments `extra` (paths under the stack dir).
fn published(test: &str, extra: &[&str]) -> Stack {
    let stack = Stack::start().unwrap();
    stack.app_with_license(APP).unwrap();
    let tag = format!("driftless-vendor-gates-{test}-{}:1", std::process::id());
    build_http_image(&tag, "hello").unwrap();
    let compose = stack.dir.path().join("compose.yaml");
    std::fs::write(&compose, format!("services:\n  web:\n    image: {tag}\n")).unwrap();
    let mut args = vec!["publish", "--app", APP, "--version", "1.0.0"];
    args.extend(["--compose", compose.to_str().unwrap()]);
    args.extend(extra);
    stack.vendor_ok(&args).unwrap();
    stack
}

/// A CycloneDX SBOM with one npm component under `licence`, written under the stack.
fn write_sbom(dir: &Path, name: &str, version: &str, licence: &str) -> String {
    let path = dir.join(format!("{name}-{version}.cdx.json"));
    let doc = serde_json::json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5",
        "components": [{"type": "library", "name": name, "version": version,
            "purl": format!("pkg:npm/{name}@{version}"),
            "licenses": [{"license": {"id": licence}}]}]
    });
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

/// Sets the policy of the app's `stable` channel with `flags`.
fn set_policy(stack: &Stack, flags: &[&str]) {
    let mut args = vec![
        "channel",
        "policy",
        "set",
        "--app",
        APP,
        "--channel",
        "stable",
    ];
    args.extend_from_slice(flags);
    stack.vendor_ok(&args).unwrap();
}

fn run(stack: &Stack, args: &[&str]) -> Output {
    stack.vendor().args(args).output().unwrap()
}

/// Asserts a refusal with `expected` and returns its stderr.
fn refused(out: &Output, expected: u8) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(i32::from(expected)), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

/// How many times a channel was pointed at a release (`channel.promote` entries).
fn promotions(stack: &Stack) -> usize {
    audit_entries(stack, "channel.promote").len()
}

fn audit_entries(stack: &Stack, action: &str) -> Vec<Value> {
    let entries: Value =
        serde_json::from_str(&stack.vendor_ok(&["audit", "--json"]).unwrap()).unwrap();
    entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["action"] == action)
        .cloned()
        .collect()
}

#[test]
fn a_denied_licence_blocks_promote_and_an_override_passes_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let sbom = write_sbom(dir.path(), "copyleft-lib", "2.0.0", "GPL-3.0-only");
    let web = format!("web={sbom}");
    let stack = published("licence", &["--sbom", &web]);
    set_policy(&stack, &["--deny-licence", "GPL-3.0-only"]);
    let promote = [
        "promote",
        "--app",
        APP,
        "--channel",
        "stable",
        "--version",
        "1.0.0",
    ];
    let stderr = refused(&run(&stack, &promote), code::GATE_REFUSED);
    for needed in [
        "copyleft-lib@2.0.0",
        "GPL-3.0-only",
        "`web`",
        "--override-gate",
    ] {
        assert!(stderr.contains(needed), "{needed} missing from: {stderr}");
    }
    assert_eq!(promotions(&stack), 0, "a refused promote moved the channel");

    let blank = run(&stack, &[&promote[..], &["--override-gate", " "]].concat());
    refused(&blank, code::INVALID_INPUT);
    let reason = "legal approved the GPL component for this customer";
    stack
        .vendor_ok(&[&promote[..], &["--override-gate", reason]].concat())
        .unwrap();
    let overrides = audit_entries(&stack, "gate.override");
    assert_eq!(overrides.len(), 1, "{overrides:?}");
    let detail = overrides[0].to_string();
    assert!(
        detail.contains(reason) && detail.contains("copyleft-lib"),
        "{detail}"
    );
    assert_eq!(promotions(&stack), 1);
}

#[test]
fn a_critical_advisory_blocks_rollout_start_and_exposure_names_the_release() {
    let dir = tempfile::tempdir().unwrap();
    let sbom = write_sbom(dir.path(), "lodash", "4.17.20", "MIT");
    let web = format!("web={sbom}");
    let mut stack = published("advisory", &["--sbom", &web]);
    let osv = stack.dir.path().join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    let modified = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let advisory = serde_json::json!({
        "id": "GHSA-test-0001", "modified": modified, "summary": "prototype pollution",
        "database_specific": {"severity": "CRITICAL"},
        "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}]}]
    });
    std::fs::write(osv.join("GHSA-test-0001.json"), advisory.to_string()).unwrap();
    let settings = stack.data_dir().join("settings.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    let line = format!("osv_dir = {:?}\n", osv.to_str().unwrap());
    std::fs::write(&settings, line + &text).unwrap();
    stack.start_control().unwrap();

    set_policy(
        &stack,
        &["--max-severity", "high", "--max-osv-age-days", "7"],
    );
    let shown: Value = serde_json::from_str(
        &stack
            .vendor_ok(&[
                "channel",
                "policy",
                "show",
                "--app",
                APP,
                "--channel",
                "stable",
            ])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(shown["osv"]["advisories"], 1, "{shown}");
    assert_eq!(shown["osv"]["age_days"], 0, "{shown}");

    let start = [
        "rollout",
        "start",
        "--app",
        APP,
        "--channel",
        "stable",
        "--version",
        "1.0.0",
    ];
    let stderr = refused(&run(&stack, &start), code::GATE_REFUSED);
    for needed in ["GHSA-test-0001", "lodash@4.17.20", "critical", "`web`"] {
        assert!(stderr.contains(needed), "{needed} missing from: {stderr}");
    }
    let rollouts = stack.vendor_ok(&["rollout", "list", "--app", APP, "--json"]);
    assert!(
        rollouts.map_or(true, |r| !r.contains("1.0.0")),
        "a refused start started a rollout"
    );

    let exposure: Value = serde_json::from_str(
        &stack
            .vendor_ok(&["exposure", "--advisory", "GHSA-test-0001"])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(exposure["releases"][0]["version"], "1.0.0", "{exposure}");
    assert_eq!(exposure["severity"], "critical", "{exposure}");
}

#[test]
fn a_release_without_an_sbom_on_a_channel_that_requires_one_is_refused() {
    let stack = published("nosbom", &["--no-generated-sbom"]);
    set_policy(&stack, &["--require-sbom"]);
    let promote = [
        "promote",
        "--app",
        APP,
        "--channel",
        "stable",
        "--version",
        "1.0.0",
    ];
    let stderr = refused(&run(&stack, &promote), code::GATE_REFUSED);
    assert!(stderr.contains("service `web` has no SBOM"), "{stderr}");
    let doc = stack.release_document(APP, "1.0.0").unwrap();
    assert!(
        doc.get("sboms").is_none(),
        "an empty list is left out of the signed bytes: {doc}"
    );
}

#[test]
fn the_sbom_digest_in_the_signed_release_is_the_registry_copys() {
    let dir = tempfile::tempdir().unwrap();
    let sbom = write_sbom(dir.path(), "left-pad", "1.3.0", "MIT");
    let web = format!("web={sbom}");
    let stack = published("digest", &["--sbom", &web]);
    let doc = stack.release_document(APP, "1.0.0").unwrap();
    let named = &doc["sboms"][0];
    assert_eq!(named["service"], "web", "{doc}");
    assert_eq!(named["media_type"], "application/vnd.cyclonedx+json");
    let image_digest = doc["images"][0]["digest"].as_str().unwrap();
    let tag = format!("sha256-{}.sbom", image_digest.trim_start_matches("sha256:"));

    let token = stack
        .registry_token("operator", &stack.token, &["acme/r1/web"])
        .unwrap();
    let get = |path: &str, accept: &str| -> Vec<u8> {
        reqwest::blocking::Client::new()
            .get(format!(
                "http://{}/v2/acme/r1/web/{path}",
                stack.registry.host()
            ))
            .bearer_auth(&token)
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .unwrap()
            .error_for_status()
            .unwrap()
            .bytes()
            .unwrap()
            .to_vec()
    };
    let manifest = get(
        &format!("manifests/{tag}"),
        "application/vnd.oci.image.manifest.v1+json",
    );
    assert_eq!(
        sha256(&manifest),
        named["manifest_digest"].as_str().unwrap()
    );
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    assert_eq!(layer, named["digest"].as_str().unwrap(), "{manifest}");
    let blob = get(&format!("blobs/{layer}"), "*/*");
    assert_eq!(sha256(&blob), layer);
    assert_eq!(blob, std::fs::read(&sbom).unwrap());

    let out = dir.path().join("out");
    stack
        .vendor_ok(&[
            "release",
            "sbom",
            "--app",
            APP,
            "--version",
            "1.0.0",
            "-o",
            out.to_str().unwrap(),
        ])
        .unwrap();
    assert_eq!(std::fs::read(out.join("web.cyclonedx.json")).unwrap(), blob);
}

#[test]
fn publish_refuses_an_sbom_that_is_neither_cyclonedx_nor_spdx() {
    let stack = Stack::start().unwrap();
    stack.app_with_license(APP).unwrap();
    let tag = format!("driftless-vendor-gates-bad-{}:1", std::process::id());
    build_http_image(&tag, "hello").unwrap();
    let compose = stack.dir.path().join("compose.yaml");
    std::fs::write(&compose, format!("services:\n  web:\n    image: {tag}\n")).unwrap();
    let bad = stack.dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"hello": "world"}"#).unwrap();
    let web = format!("web={}", bad.display());
    let out = run(
        &stack,
        &[
            "publish",
            "--app",
            APP,
            "--version",
            "1.0.0",
            "--compose",
            compose.to_str().unwrap(),
            "--sbom",
            &web,
        ],
    );
    let stderr = refused(&out, code::INVALID_INPUT);
    assert!(stderr.contains("not a CycloneDX or SPDX"), "{stderr}");
    let releases = stack
        .vendor_ok(&["releases", "--app", APP, "--json"])
        .unwrap();
    assert_eq!(
        releases.trim(),
        "[]",
        "a refused publish uploaded a release"
    );
}

/// Builds a FROM-scratch image whose only content is a dpkg status file listing
/// `openssl` (and a removed package), in two layers so the upper one must win.
fn build_image_with_dpkg_status(tag: &str) {
    let dir = tempfile::tempdir().unwrap();
    let dpkg = dir.path().join("var/lib/dpkg");
    std::fs::create_dir_all(&dpkg).unwrap();
    std::fs::write(
        dpkg.join("old"),
        "Package: stale\nStatus: install ok installed\nVersion: 1\n",
    )
    .unwrap();
    std::fs::write(
        dpkg.join("status"),
        "Package: openssl\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u1\nArchitecture: amd64\n\n\
         Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n",
    )
    .unwrap();
    let dockerfile = "FROM scratch\nCOPY var/lib/dpkg/old /var/lib/dpkg/status\nCOPY var/lib/dpkg/status /var/lib/dpkg/status\n";
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    let out = std::process::Command::new("docker")
        .args(["build", "-q", "-t", tag, "."])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn publish_builds_an_sbom_from_the_images_dpkg_database_when_none_is_given() {
    let stack = Stack::start().unwrap();
    stack.app_with_license(APP).unwrap();
    let tag = format!("driftless-vendor-gates-dpkg-{}:1", std::process::id());
    build_image_with_dpkg_status(&tag);
    let compose = stack.dir.path().join("compose.yaml");
    std::fs::write(&compose, format!("services:\n  db:\n    image: {tag}\n")).unwrap();
    let args = ["publish", "--app", APP, "--version", "1.0.0", "--compose"];
    stack
        .vendor_ok(&[&args[..], &[compose.to_str().unwrap()]].concat())
        .unwrap();
    let printed = stack
        .vendor_ok(&["release", "sbom", "--app", APP, "--version", "1.0.0"])
        .unwrap();
    let sbom: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(sbom["bomFormat"], "CycloneDX", "{sbom}");
    let purls: Vec<&str> = sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    assert_eq!(
        purls,
        ["pkg:deb/debian/openssl@3.0.11-1~deb12u1?arch=amd64"],
        "{sbom}"
    );
}

#[test]
fn an_sbom_swapped_in_the_control_planes_database_is_refused_not_judged() {
    let dir = tempfile::tempdir().unwrap();
    let sbom = write_sbom(dir.path(), "copyleft-lib", "2.0.0", "GPL-3.0-only");
    let web = format!("web={sbom}");
    let stack = published("swapped", &["--sbom", &web]);
    set_policy(&stack, &["--deny-licence", "GPL-3.0-only"]);
    // The attack: replace the stored SBOM's bytes with a clean one under the same digest.
    let clean = std::fs::read(write_sbom(dir.path(), "copyleft-lib", "2.0.0", "MIT")).unwrap();
    let named = stack.release_document(APP, "1.0.0").unwrap()["sboms"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!(
        "sqlite://{}",
        stack.data_dir().join("driftless.db").display()
    );
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let done = sqlx::query("UPDATE artifacts SET bytes = ?1 WHERE digest = ?2")
            .bind(&clean)
            .bind(&named)
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
    });
    let promote = [
        "promote",
        "--app",
        APP,
        "--channel",
        "stable",
        "--version",
        "1.0.0",
    ];
    let stderr = refused(&run(&stack, &promote), code::CONFLICT);
    assert!(stderr.contains("does not hash to it"), "{stderr}");
    assert_eq!(
        promotions(&stack),
        0,
        "a swapped SBOM let the release through"
    );
    let read = run(
        &stack,
        &["release", "sbom", "--app", APP, "--version", "1.0.0"],
    );
    refused(&read, code::CONFLICT);
    assert!(read.stdout.is_empty(), "the swapped SBOM was printed");
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
