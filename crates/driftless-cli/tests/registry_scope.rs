//! A registry credential is good for exactly one release, checked against the real
//! registry (CNCF distribution with token auth): every release lives in repositories of
//! its own, so an install's token pulls its assigned release and nothing else (not an
//! older release, not a yanked one, not another channel's, not another app's, by
//! manifest or by blob digest) and pushes nothing; and publishing a release that changes one of two
//! services uploads only that service's new layers, mounting the rest.
//!
//! Needs `cargo build --bins` first (scripts/test does); a missing Docker Engine or
//! registry fails the tests, it never skips them.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use driftless_client::{CheckinOutcome, InstallClient};
use driftless_test_support::docker_cli::docker;
use driftless_test_support::images::{build_http_image, with_retries};
use driftless_test_support::process::{assert_success, stdout};
use driftless_test_support::release_spec::{compose_file, Ports, Spec};
use driftless_test_support::world::{unique, World};
use driftless_wire::checkin::CheckinRequest;
use driftless_wire::status::InstallStatus;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use ed25519_dalek::SigningKey;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};

/// What a puller asks for a manifest.
const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.oci.image.manifest.v1+json";

/// One image of a release as the registry holds it.
#[derive(Clone, Debug)]
struct StoredImage {
    repository: String,
    manifest: String,
    /// The image config's digest: a blob no other release in these tests shares.
    config: String,
    layers: Vec<String>,
}

/// Talks to the world's registry and token endpoint.
struct RegistryProbe<'a> {
    w: &'a World,
    http: Client,
}

impl RegistryProbe<'_> {
    fn new(w: &World) -> RegistryProbe<'_> {
        RegistryProbe {
            w,
            http: Client::new(),
        }
    }

    fn v2(&self, path: &str) -> String {
        format!("http://{}/v2/{path}", self.w.stack.registry.host())
    }

    /// One token from the control plane's token endpoint for every `scopes` entry
    /// (`repository:<name>:<actions>`), logged in as `user`.
    fn token(&self, user: &str, password: &str, scopes: &[String]) -> String {
        let mut query = vec![("service", "driftless-registry".to_string())];
        query.extend(scopes.iter().map(|s| ("scope", s.clone())));
        let resp = self
            .http
            .get(format!("{}/v1/registry/token", self.w.stack.url()))
            .query(&query)
            .basic_auth(user, Some(password))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200, "token endpoint for {user}");
        let body: Value = resp.json().unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    /// An operator token that pulls `repos`.
    fn operator_token(&self, repos: &[&str]) -> String {
        let scopes: Vec<String> = repos
            .iter()
            .map(|r| format!("repository:{r}:pull"))
            .collect();
        self.token("operator", &self.w.stack.token, &scopes)
    }

    fn status(&self, req: RequestBuilder, token: &str) -> u16 {
        req.bearer_auth(token).send().unwrap().status().as_u16()
    }

    fn manifest_status(&self, repo: &str, digest: &str, token: &str) -> u16 {
        let req = self
            .http
            .get(self.v2(&format!("{repo}/manifests/{digest}")))
            .header("Accept", MANIFEST_ACCEPT);
        self.status(req, token)
    }

    fn blob_status(&self, repo: &str, digest: &str, token: &str) -> u16 {
        let req = self.http.get(self.v2(&format!("{repo}/blobs/{digest}")));
        self.status(req, token)
    }

    /// `service`'s image of `app` at `version`: its repository and pin from the release
    /// document, its config and layers from the manifest the registry holds.
    fn image(&self, app: &str, version: &str, service: &str) -> StoredImage {
        let doc = self.w.stack.release_document(app, version).unwrap();
        let image = doc["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["service"] == service)
            .unwrap_or_else(|| panic!("no {service} in {app} {version}: {doc}"));
        let repository = image["repository"].as_str().unwrap().to_string();
        let manifest = image["digest"].as_str().unwrap().to_string();
        let token = self.operator_token(&[&repository]);
        let body: Value = self
            .http
            .get(self.v2(&format!("{repository}/manifests/{manifest}")))
            .header("Accept", MANIFEST_ACCEPT)
            .bearer_auth(token)
            .send()
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .unwrap();
        let digest = |d: &Value| d["digest"].as_str().unwrap().to_string();
        StoredImage {
            repository,
            manifest,
            config: digest(&body["config"]),
            layers: body["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(digest)
                .collect(),
        }
    }

    /// Asserts `token` pulls `own` and pushes neither there nor to `next` (a repository
    /// of the next release); then that it reaches none of `others`, neither in their
    /// repositories nor through `own`'s.
    fn assert_scoped_to(
        &self,
        token: &str,
        own: &StoredImage,
        next: &str,
        others: &[(&str, StoredImage)],
    ) {
        let repo = &own.repository;
        assert_eq!(self.manifest_status(repo, &own.manifest, token), 200);
        assert_eq!(self.blob_status(repo, &own.config, token), 200);
        for (what, other) in others {
            let theirs = &other.repository;
            assert_eq!(
                self.manifest_status(theirs, &other.manifest, token),
                401,
                "{what}: manifest in {theirs}"
            );
            assert_eq!(
                self.blob_status(theirs, &other.config, token),
                401,
                "{what}: blob in {theirs}"
            );
            // Distribution serves a digest only from a repository that links it.
            assert_eq!(
                self.manifest_status(repo, &other.manifest, token),
                404,
                "{what}: manifest through {repo}"
            );
            assert_eq!(
                self.blob_status(repo, &other.config, token),
                404,
                "{what}: blob through {repo}"
            );
        }
        self.assert_push_refused(token, own, next);
    }

    /// Asserts `token` can neither start an upload nor tag a manifest, in `own`'s
    /// repository or in `next`.
    fn assert_push_refused(&self, token: &str, own: &StoredImage, next: &str) {
        for repo in [own.repository.as_str(), next] {
            let start = self.http.post(self.v2(&format!("{repo}/blobs/uploads/")));
            assert_eq!(self.status(start, token), 401, "upload into {repo}");
            let mount = self
                .http
                .post(self.v2(&format!("{repo}/blobs/uploads/")))
                .query(&[("mount", own.config.as_str()), ("from", &own.repository)]);
            assert_eq!(self.status(mount, token), 401, "mount into {repo}");
        }
        let tag = self
            .http
            .put(self.v2(&format!("{}/manifests/evil", own.repository)))
            .header(
                "Content-Type",
                "application/vnd.docker.distribution.manifest.v2+json",
            )
            .body("{}");
        assert_eq!(self.status(tag, token), 401, "tag in {}", own.repository);
    }
}

/// The JWT's `access` claim as `(repository, actions)`, sorted.
fn access_of(token: &str) -> Vec<(String, Value)> {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let claims: Value = serde_json::from_slice(&B64URL.decode(payload).unwrap()).unwrap();
    let mut access: Vec<(String, Value)> = claims["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["actions"].clone(),
            )
        })
        .collect();
    access.sort_by(|a, b| a.0.cmp(&b.0));
    access
}

/// The registry token a check-in of `host` (install `id`) answers with, the one the CLI
/// pulls with, from a check-in signed with the host's own key.
fn checkin_token(w: &World, host: &str, id: &str) -> String {
    let pem = std::fs::read_to_string(w.state_dir(host).join("keys/install.pem")).unwrap();
    let key = SigningKey::from_pkcs8_pem(&pem).unwrap();
    let req = CheckinRequest {
        release_counter: None,
        version: None,
        status: InstallStatus::New,
        cli_version: env!("CARGO_PKG_VERSION").into(),
        platform: "linux/amd64".into(),
        free_disk_bytes: None,
        target_version: None,
        reason: None,
        policy: None,
        waiting: None,
    };
    let client = InstallClient::new(&w.stack.url()).unwrap();
    // Signed requests carry milliseconds and must be newer than the install's last
    // one: the host's CLI signed its own at the latest a moment ago.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 1;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    match runtime.block_on(client.checkin(id, &key, &req, None, now)) {
        Ok(CheckinOutcome::Updated { response, .. }) => response.registry.unwrap().token,
        other => panic!("check-in of {id}: {other:?}"),
    }
}

#[test]
fn an_install_assigned_2_0_0_pulls_only_2_0_0_and_pushes_nothing() {
    let w = World::new("scope");
    w.release("1.0.0", Spec::default());
    w.release("1.5.0", Spec::default());
    w.release("2.0.0", Spec::default());
    w.vendor_ok(&["release", "yank", "--app", &w.app, "--version", "1.5.0"]);
    w.vendor_ok(&["channel", "create", "--app", &w.app, "beta"]);
    w.publish_built("3.0.0", Spec::default());
    w.promote("3.0.0", "beta");
    let other = unique("scope-other");
    w.stack.app_with_license(&other).unwrap();
    let unique_images = Spec {
        unique_images: true,
        ..Spec::default()
    };
    w.release_app(&other, "1.0.0", unique_images);
    let id = w.install("h");

    let probe = RegistryProbe::new(&w);
    let own = probe.image(&w.app, "2.0.0", "web");
    let others = [
        ("an older release", probe.image(&w.app, "1.0.0", "web")),
        ("a yanked release", probe.image(&w.app, "1.5.0", "web")),
        (
            "another channel's release",
            probe.image(&w.app, "3.0.0", "web"),
        ),
        ("another app's release", probe.image(&other, "1.0.0", "web")),
    ];
    let doc = w.release_document("2.0.0");
    let own_repos: BTreeSet<String> = doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&doc["descriptor"]])
        .map(|i| i["repository"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(own_repos.len(), 3, "{doc}");
    // 3.0.0 on beta is release counter 4.
    let next = format!("{}/r5/web", w.app);
    let pull_own: Vec<(String, Value)> = own_repos
        .iter()
        .map(|r| (r.clone(), json!(["pull"])))
        .collect();

    // `registry-login`, as `docker login` uses it: asked for more, granted only what is
    // its release's, pull only (distribution's token semantics, not an error).
    let login = w.driftless("h", &["registry-login"]);
    assert_success(&login, "driftless registry-login");
    let line = stdout(&login);
    let (user, password) = line.trim().split_once(' ').unwrap();
    let mut scopes: Vec<String> = own_repos
        .iter()
        .map(|r| format!("repository:{r}:pull,push"))
        .collect();
    scopes.extend(
        others
            .iter()
            .map(|(_, o)| format!("repository:{}:pull", o.repository)),
    );
    scopes.push(format!("repository:{next}:push"));
    let login_token = probe.token(user, password, &scopes);
    assert_eq!(access_of(&login_token), pull_own);
    probe.assert_scoped_to(&login_token, &own, &next, &others);

    // The token a sync pulls with.
    let checkin = checkin_token(&w, "h", &id);
    assert_eq!(access_of(&checkin), pull_own);
    probe.assert_scoped_to(&checkin, &own, &next, &others);
}

/// Builds `tag` serving `body`; the world removes it (its name holds `<app>/`).
fn build(tag: &str, body: &str) {
    with_retries(|| build_http_image(tag, body));
}

/// Writes the world's two-service compose file for `version`; returns its path.
fn write_compose(w: &World, version: &str) -> PathBuf {
    let ports = Ports {
        web: w.web_port,
        api: w.api_port,
    };
    let path = w.stack.dir.path().join(format!("compose-{version}.yaml"));
    std::fs::write(&path, compose_file(&w.app, version, Spec::default(), ports)).unwrap();
    path
}

/// Bytes under the registry's storage root.
fn storage_bytes(w: &World) -> u64 {
    fn walk(dir: &std::path::Path) -> u64 {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| match e.file_type() {
                        Ok(t) if t.is_dir() => walk(&e.path()),
                        _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&w.stack.registry.storage_dir())
}

#[test]
fn a_release_that_changes_one_of_two_services_uploads_only_that_services_new_layers() {
    let w = World::new("mount");
    let app = &w.app;
    build(&format!("{app}/web:1.0.0"), &format!("web 1.0.0 of {app}"));
    build(&format!("{app}/api:1.0.0"), &format!("api 1.0.0 of {app}"));
    w.publish("1.0.0", &write_compose(&w, "1.0.0"));

    // 2.0.0 changes web only: api is the very same image.
    build(&format!("{app}/web:2.0.0"), &format!("web 2.0.0 of {app}"));
    docker(
        &[
            "tag",
            &format!("{app}/api:1.0.0"),
            &format!("{app}/api:2.0.0"),
        ],
        "tag api 2.0.0",
    )
    .unwrap();
    let registry = &w.stack.registry;
    let (log_from, disk_before) = (registry.log_len().unwrap(), storage_bytes(&w));
    w.publish("2.0.0", &write_compose(&w, "2.0.0"));
    let arrivals = registry.blobs_since(log_from).unwrap();
    let disk_growth = storage_bytes(&w) - disk_before;

    let probe = RegistryProbe::new(&w);
    let (web1, web2) = (
        probe.image(app, "1.0.0", "web"),
        probe.image(app, "2.0.0", "web"),
    );
    let api2 = probe.image(app, "2.0.0", "api");
    assert_eq!(web2.repository, format!("{app}/r2/web"));
    assert_eq!(api2.repository, format!("{app}/r2/api"));
    let new_web_blobs: BTreeSet<String> = web2
        .layers
        .iter()
        .filter(|l| !web1.layers.contains(l))
        .chain([&web2.config])
        .cloned()
        .collect();
    assert!(
        new_web_blobs.len() >= 2,
        "web 2.0.0 has no new layer: {web2:?}"
    );
    let uploaded_into = |repo: &str| -> BTreeSet<String> {
        arrivals
            .iter()
            .filter(|a| a.repository == repo && a.mounted_from.is_none())
            .map(|a| a.digest.clone())
            .collect()
    };
    let mounted_into = |repo: &str| -> BTreeSet<String> {
        arrivals
            .iter()
            .filter(|a| a.repository == repo && a.mounted_from.is_some())
            .map(|a| a.digest.clone())
            .collect()
    };
    assert_eq!(
        uploaded_into(&web2.repository),
        new_web_blobs,
        "{arrivals:#?}"
    );
    assert!(
        uploaded_into(&api2.repository).is_empty(),
        "the unchanged api was uploaded again: {arrivals:#?}"
    );
    let api_blobs: BTreeSet<String> = api2.layers.iter().chain([&api2.config]).cloned().collect();
    assert_eq!(mounted_into(&api2.repository), api_blobs, "{arrivals:#?}");
    let compose_repo = format!("{app}/r2/compose");
    for a in &arrivals {
        assert!(
            [&web2.repository, &api2.repository, &compose_repo].contains(&&a.repository),
            "a blob reached a repository outside release 2: {a:?}"
        );
    }

    let size = |d: &String| registry.blob_size(d).unwrap();
    let uploaded: u64 = arrivals
        .iter()
        .filter(|a| a.mounted_from.is_none())
        .map(|a| size(&a.digest))
        .sum();
    let release_total: u64 = web2
        .layers
        .iter()
        .chain(&api2.layers)
        .chain([&web2.config, &api2.config])
        .map(size)
        .sum();
    let web_new: u64 = new_web_blobs.iter().map(size).sum();
    eprintln!(
        "publishing 2.0.0 uploaded {uploaded} bytes ({web_new} of them web's new blobs, the \
         rest the compose artifact) of a release whose images hold {release_total}; the \
         registry's storage grew by {disk_growth} bytes"
    );
    let compose_bytes = uploaded - web_new;
    assert!(
        compose_bytes < 4096,
        "{compose_bytes} bytes besides web's new blobs"
    );
}
