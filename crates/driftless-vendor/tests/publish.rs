#![allow(clippy::unwrap_used)]
//! `driftless-vendor publish` against the real registry and control plane: every refusal
//! exits with its documented code and one `error:` line and uploads nothing; a good
//! publish stores images and the compose artifact the release pins.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use driftless_descriptor::ComposeFile;
use driftless_exit::code;
use driftless_test_support::control_plane::init_data_dir;
use driftless_test_support::images::build_http_image;
use driftless_test_support::stack::{workspace_bin, Stack};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const APP: &str = "acme";
const VERSION: &str = "1.0.0";

/// A local image tag no other test (or concurrent run) uses.
fn image_tag(test: &str) -> String {
    format!("driftless-vendor-publish-{test}-{}:1", std::process::id())
}

/// A stack with app `acme` (channel, customer, license) and a compose file path.
fn stack_with_app() -> Stack {
    let stack = Stack::start().unwrap();
    stack.app_with_license(APP).unwrap();
    stack
}

fn write_compose(stack: &Stack, name: &str, yaml: &str) -> String {
    let path = stack.dir.path().join(name);
    std::fs::write(&path, yaml).unwrap();
    path.to_str().unwrap().to_string()
}

fn web_compose(image: &str) -> String {
    format!("services:\n  web:\n    image: {image}\n    ports:\n      - \"127.0.0.1:18080:8080\"\n")
}

fn publish_args<'a>(version: &'a str, compose: &'a str) -> Vec<&'a str> {
    vec![
        "publish",
        "--app",
        APP,
        "--version",
        version,
        "--compose",
        compose,
    ]
}

/// Every `repository:tag` the registry stores under the app's namespace (each release
/// has its own repositories, `<app>/r<counter>/<name>`).
fn registry_tags(stack: &Stack) -> BTreeSet<String> {
    let base = stack
        .registry
        .storage_dir()
        .join("docker/registry/v2/repositories")
        .join(APP);
    let mut out = BTreeSet::new();
    let Ok(releases) = std::fs::read_dir(&base) else {
        return out;
    };
    for release in releases {
        let release = release.unwrap();
        let prefix = format!("{APP}/{}", release.file_name().to_string_lossy());
        out.insert(prefix.clone());
        for repo in std::fs::read_dir(release.path()).unwrap() {
            let repo = repo.unwrap();
            let name = format!("{prefix}/{}", repo.file_name().to_string_lossy());
            out.insert(name.clone());
            let tags = repo.path().join("_manifests/tags");
            if let Ok(tags) = std::fs::read_dir(tags) {
                for tag in tags {
                    out.insert(format!(
                        "{name}:{}",
                        tag.unwrap().file_name().to_string_lossy()
                    ));
                }
            }
        }
    }
    out
}

/// The app's releases as `releases --json` lists them.
fn releases(stack: &Stack) -> Value {
    serde_json::from_str(
        &stack
            .vendor_ok(&["releases", "--app", APP, "--json"])
            .unwrap(),
    )
    .unwrap()
}

/// What the registry and the control plane hold, to prove a refusal changed neither.
fn snapshot(stack: &Stack) -> (BTreeSet<String>, Value) {
    (registry_tags(stack), releases(stack))
}

/// Asserts the exit code and that stderr is exactly one `error:` line, then at most a
/// blank line and one `hint:` line; returns the error line and the hint's text.
fn expect_failure(out: &Output, expected: u8) -> (String, Option<String>) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(i32::from(expected)),
        "stderr: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        (1..=2).contains(&lines.len()),
        "expected an error line and at most a hint on stderr: {stderr}"
    );
    assert!(lines[0].starts_with("error: "), "{stderr}");
    let hint = lines.get(1).map(|l| {
        assert!(
            stderr.contains(&format!("\n\n{l}")),
            "no blank line before: {stderr}"
        );
        l.strip_prefix("hint: ")
            .unwrap_or_else(|| panic!("the second line is not a hint: {stderr}"))
            .to_string()
    });
    (lines[0].to_string(), hint)
}

/// Runs `cmd` and asserts it was refused with `expected` and uploaded nothing; returns
/// the error line and the hint.
fn refused(stack: &Stack, mut cmd: Command, expected: u8) -> (String, Option<String>) {
    let before = snapshot(stack);
    let out = cmd.output().unwrap();
    let refusal = expect_failure(&out, expected);
    assert_eq!(
        snapshot(stack),
        before,
        "a refused publish uploaded something"
    );
    refusal
}

fn publish_cmd(stack: &Stack, version: &str, compose: &str) -> Command {
    let mut cmd = stack.vendor();
    cmd.args(publish_args(version, compose));
    cmd
}

#[test]
fn publishing_an_existing_version_is_a_conflict() {
    let stack = stack_with_app();
    let tag = image_tag("exists");
    build_http_image(&tag, "exists").unwrap();
    let compose = write_compose(&stack, "compose.yaml", &web_compose(&tag));
    stack.vendor_ok(&publish_args(VERSION, &compose)).unwrap();
    assert_eq!(releases(&stack).as_array().unwrap().len(), 1);
    let (line, hint) = refused(
        &stack,
        publish_cmd(&stack, VERSION, &compose),
        code::CONFLICT,
    );
    assert!(line.contains(VERSION), "{line}");
    assert_eq!(hint.as_deref(), Some("publish a new version"), "{line}");
}

#[test]
fn a_service_image_missing_locally_is_invalid_input() {
    let stack = stack_with_app();
    let absent = format!(
        "driftless-vendor-publish-absent-{}:nope",
        std::process::id()
    );
    let compose = write_compose(&stack, "compose.yaml", &web_compose(&absent));
    let (line, hint) = refused(
        &stack,
        publish_cmd(&stack, VERSION, &compose),
        code::INVALID_INPUT,
    );
    assert!(line.contains(&absent), "{line}");
    assert_eq!(
        hint.as_deref(),
        Some("build or load it before publishing"),
        "{line}"
    );
}

#[test]
fn an_image_using_a_variable_is_invalid_input() {
    let stack = stack_with_app();
    // TAG is declared, so the refusal is about the image, not an undeclared variable.
    let yaml = "x-driftless:\n  config:\n    - name: TAG\n      type: string\n      default: \"1\"\nservices:\n  web:\n    image: foo:${TAG}\n";
    let compose = write_compose(&stack, "compose.yaml", yaml);
    let (line, hint) = refused(
        &stack,
        publish_cmd(&stack, VERSION, &compose),
        code::INVALID_INPUT,
    );
    assert!(line.contains("foo:${TAG}"), "{line}");
    assert!(
        hint.as_deref()
            .is_some_and(|h| h.contains("a concrete image it can pin by digest")),
        "{hint:?}"
    );
}

#[test]
fn an_undeclared_variable_is_invalid_input() {
    let stack = stack_with_app();
    let tag = image_tag("undeclared");
    build_http_image(&tag, "undeclared").unwrap();
    let yaml = format!(
        "services:\n  web:\n    image: {tag}\n    environment:\n      GREETING: ${{NOPE}}\n"
    );
    let compose = write_compose(&stack, "compose.yaml", &yaml);
    let (line, hint) = refused(
        &stack,
        publish_cmd(&stack, VERSION, &compose),
        code::INVALID_INPUT,
    );
    assert!(line.contains("NOPE"), "{line}");
    assert_eq!(
        hint.as_deref(),
        Some("declare it under x-driftless.config"),
        "{line}"
    );
}

#[test]
fn undeclared_data_volumes_and_unknown_jobs_are_invalid_input() {
    let stack = stack_with_app();
    let services = "services:\n  web:\n    image: foo:1\n    volumes: [\"data:/data\"]\nvolumes:\n  data: {}\n";
    for (ext, want) in [
        (
            "  data_volumes: [db]\n",
            "data_volumes: `db` is not a named volume declared",
        ),
        (
            "  jobs:\n    pre_upgrade: [migrate]\n",
            "jobs: `migrate` is not a service of this file",
        ),
    ] {
        let yaml = format!("{services}x-driftless:\n{ext}");
        let compose = write_compose(&stack, "compose.yaml", &yaml);
        let (line, _) = refused(
            &stack,
            publish_cmd(&stack, VERSION, &compose),
            code::INVALID_INPUT,
        );
        assert!(line.contains(want), "{line}");
    }
}

#[test]
fn a_build_only_service_is_invalid_input() {
    let stack = stack_with_app();
    let yaml = "services:\n  web:\n    build: .\n";
    let compose = write_compose(&stack, "compose.yaml", yaml);
    let (line, hint) = refused(
        &stack,
        publish_cmd(&stack, VERSION, &compose),
        code::INVALID_INPUT,
    );
    assert!(line.contains("web"), "{line}");
    assert!(
        hint.as_deref()
            .is_some_and(|h| h.contains("an image built on this machine")),
        "{hint:?}"
    );
}

#[test]
fn publishing_without_a_release_key_is_invalid_input() {
    let stack = stack_with_app();
    let tag = image_tag("nokey");
    build_http_image(&tag, "nokey").unwrap();
    let compose = write_compose(&stack, "compose.yaml", &web_compose(&tag));
    let mut cmd = publish_cmd(&stack, VERSION, &compose);
    cmd.env_remove("DRIFTLESS_RELEASE_KEY_FILE")
        .env_remove("DRIFTLESS_RELEASE_KEY");
    let (line, hint) = refused(&stack, cmd, code::INVALID_INPUT);
    assert!(line.contains("release key"), "{line}");
    assert!(
        hint.as_deref()
            .is_some_and(|h| h.starts_with("pass --release-key FILE")),
        "{hint:?}"
    );
}

#[test]
fn publishing_with_a_wrong_operator_token_is_unauthorized() {
    let stack = stack_with_app();
    let tag = image_tag("badtoken");
    build_http_image(&tag, "badtoken").unwrap();
    let compose = write_compose(&stack, "compose.yaml", &web_compose(&tag));
    let mut cmd = publish_cmd(&stack, VERSION, &compose);
    cmd.env("DRIFTLESS_TOKEN", "dlop_not_the_operator_token");
    refused(&stack, cmd, code::UNAUTHORIZED);
}

/// A token that may pull `repos` of the stack's app: the operator's, from the token endpoint.
fn pull_token(stack: &Stack, repos: &[&str]) -> String {
    stack
        .registry_token("operator", &stack.token, repos)
        .unwrap()
}

/// `GET /v2/<path>` on the stack's registry with `token` and `accept`; status checked.
fn registry_get(
    stack: &Stack,
    path: &str,
    token: &str,
    accept: &str,
) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .get(format!("http://{}/v2/{path}", stack.registry.host()))
        .bearer_auth(token)
        .header(reqwest::header::ACCEPT, accept)
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn is_pinned_to(image: &str, repo: &str) -> bool {
    image
        .strip_prefix(&format!("{repo}@sha256:"))
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn a_successful_publish_stores_the_images_and_the_pinned_compose_artifact() {
    let stack = stack_with_app();
    let tag = image_tag("ok");
    build_http_image(&tag, "hello from 1.0.0").unwrap();
    let compose = write_compose(&stack, "compose.yaml", &web_compose(&tag));
    let digest = stack.vendor_ok(&publish_args(VERSION, &compose)).unwrap();
    assert!(digest.starts_with("sha256:"), "{digest}");

    let list = releases(&stack);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["version"], VERSION);
    assert_eq!(list[0]["digest"], digest.as_str());
    let tags = registry_tags(&stack);
    for expected in [
        "acme/r1/web",
        "acme/r1/web:1.0.0",
        "acme/r1/compose",
        "acme/r1/compose:1.0.0",
    ] {
        assert!(tags.contains(expected), "{expected} missing from {tags:?}");
    }
    // Release 1's repositories and nothing else.
    assert_eq!(
        tags.iter().filter(|t| !t.contains(':')).collect::<Vec<_>>(),
        ["acme/r1", "acme/r1/compose", "acme/r1/web"],
        "{tags:?}"
    );

    let token = pull_token(&stack, &["acme/r1/compose", "acme/r1/web"]);
    let manifest: Value = registry_get(
        &stack,
        &format!("acme/r1/compose/manifests/{VERSION}"),
        &token,
        "application/vnd.oci.image.manifest.v1+json",
    )
    .json()
    .unwrap();
    assert_eq!(manifest["schemaVersion"], 2, "{manifest}");
    assert_eq!(
        manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json",
        "{manifest}"
    );
    assert_eq!(
        manifest["config"]["mediaType"], "application/vnd.docker.compose.project",
        "{manifest}"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(
        layers[0]["mediaType"], "application/vnd.docker.compose.file+yaml",
        "{manifest}"
    );
    let layer_digest = layers[0]["digest"].as_str().unwrap();
    let blob = registry_get(
        &stack,
        &format!("acme/r1/compose/blobs/{layer_digest}"),
        &token,
        "*/*",
    )
    .bytes()
    .unwrap();
    assert_eq!(sha256_digest(&blob), layer_digest);
    assert_eq!(layers[0]["size"].as_u64().unwrap(), blob.len() as u64);

    let pinned = ComposeFile::parse(&blob).unwrap();
    let services = pinned.services();
    assert_eq!(services.len(), 1, "{}", String::from_utf8_lossy(&blob));
    for s in &services {
        let repo = format!("{APP}/r1/{}", s.service);
        assert!(is_pinned_to(&s.image, &repo), "not pinned: {}", s.image);
    }
    // The pin is the manifest the registry holds for the pushed tag.
    let web = registry_get(
        &stack,
        &format!("acme/r1/web/manifests/{VERSION}"),
        &token,
        "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
    );
    let web_digest = sha256_digest(&web.bytes().unwrap());
    assert_eq!(services[0].image, format!("acme/r1/web@{web_digest}"));
}

#[test]
fn registry_config_prints_the_token_auth_block() {
    let vendor = workspace_bin("driftless-vendor").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("control");
    init_data_dir(&vendor, &data, "127.0.0.1:17999").unwrap();
    let out = Command::new(&vendor)
        .args(["registry-config", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // The registry trusts a bundle: the current certificate and the next one, so the
    // token key can rotate without restarting the registry first.
    let cert = data.join("keys/registry-token-bundle.crt");
    assert!(Path::new(&cert).is_file(), "{} missing", cert.display());
    let bundle = std::fs::read_to_string(&cert).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2, "{bundle}");
    let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        body,
        [
            "auth:".to_string(),
            "  token:".to_string(),
            "    realm: http://127.0.0.1:17999/v1/registry/token".to_string(),
            "    service: driftless-registry".to_string(),
            "    issuer: driftless".to_string(),
            format!("    rootcertbundle: {}", cert.display()),
        ],
        "{text}"
    );
}
