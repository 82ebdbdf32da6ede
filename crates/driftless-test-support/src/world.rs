//! One end-to-end test's world: a [`Stack`], an app on it with channel `stable` and a
//! license, host ports for its services, and the hosts installed with that license,
//! each with its own state dir and compose project `<app>-<host>`. Every project's
//! containers and network and every image the world tagged are removed when it drops,
//! pass or fail.
//!
//! A step that fails panics with what failed: these are test assertions.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::compose_project::{containers, ComposeProject};
use crate::http_probe::http_body;
use crate::images::TaggedImages;
use crate::process::{assert_success, stdout};
use crate::release_spec::{write_release, Ports, Spec, SERVICES};
use crate::stack::{free_port, Stack};

/// `e2e-<test>-<pid>`: unique per test and run; a valid app, repository and project name.
pub fn unique(test: &str) -> String {
    format!("e2e-{test}-{}", std::process::id())
}

/// Panics with `what` and the error's chain when `result` is an error.
fn or_fail<T, E: std::fmt::Debug>(result: Result<T, E>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e:?}"))
}

/// One test's world; see the module documentation.
pub struct World {
    /// The registry and control plane.
    pub stack: Stack,
    /// The app, named by [`unique`].
    pub app: String,
    /// A license of the app on `stable`.
    pub license: String,
    /// The host port web is published on by a release with [`Spec::ports`].
    pub web_port: u16,
    /// The host port api is published on by a release with [`Spec::ports`].
    pub api_port: u16,
    /// The `driftless` binary hosts run.
    cli_bin: PathBuf,
    projects: RefCell<Vec<ComposeProject>>,
    images: RefCell<Vec<TaggedImages>>,
}

impl World {
    /// Starts a stack and creates the app, channel `stable`, a customer and a license.
    pub fn new(test: &str) -> World {
        let stack = or_fail(Stack::start(), "start the stack");
        let app = unique(test);
        let license = or_fail(stack.app_with_license(&app), "create the app");
        World {
            cli_bin: stack.cli_bin.clone(),
            images: RefCell::new(vec![TaggedImages::containing(&format!("{app}/"))]),
            projects: RefCell::new(Vec::new()),
            web_port: or_fail(free_port(), "pick web's port"),
            api_port: or_fail(free_port(), "pick api's port"),
            stack,
            app,
            license,
        }
    }

    /// Makes hosts run their own copy of the CLI (which a self-update may replace);
    /// returns the copy.
    pub fn use_cli_copy(&mut self) -> PathBuf {
        let bin = self.stack.dir.path().join("bin");
        or_fail(std::fs::create_dir_all(&bin), "create bin/");
        let copy = bin.join("driftless");
        or_fail(std::fs::copy(&self.stack.cli_bin, &copy), "copy the CLI");
        self.cli_bin = copy.clone();
        copy
    }

    /// Sets `key = value` in the control plane's settings.toml and restarts it.
    pub fn set_server_setting(&mut self, key: &str, value: u64) {
        let path = self.stack.data_dir().join("settings.toml");
        let text = or_fail(std::fs::read_to_string(&path), "read settings.toml");
        let mut found = false;
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with(&format!("{key} ")) {
                    found = true;
                    format!("{key} = {value}")
                } else {
                    l.to_string()
                }
            })
            .collect();
        assert!(found, "settings.toml has no {key}: {text}");
        or_fail(
            std::fs::write(&path, lines.join("\n") + "\n"),
            "write settings.toml",
        );
        or_fail(self.stack.start_control(), "restart the control plane");
    }

    /// Restarts the control plane with `key=value` in its environment (e.g. `DRIFTLESS_LOG`).
    pub fn set_server_env(&mut self, key: &str, value: &str) {
        self.stack.serve_env.push((key.into(), value.into()));
        or_fail(self.stack.start_control(), "restart the control plane");
    }

    /// The control plane's log since its last start.
    pub fn server_log(&self) -> String {
        or_fail(
            std::fs::read_to_string(self.stack.control_log()),
            "read the control plane's log",
        )
    }

    /// The compose project of `host`.
    pub fn project(&self, host: &str) -> String {
        format!("{}-{host}", self.app)
    }

    // --- Releases: what the vendor does. ---

    /// Builds the images of `version` and writes its compose file; returns the file.
    pub fn build(&self, version: &str, spec: Spec) -> PathBuf {
        self.build_app(&self.app, version, spec)
    }

    /// Builds the images of another `app` at `version` (removed with the world's) and
    /// writes its compose file, with the world's ports; returns the file.
    pub fn build_app(&self, app: &str, version: &str, spec: Spec) -> PathBuf {
        if app != self.app {
            let marker = format!("{app}/");
            self.images
                .borrow_mut()
                .push(TaggedImages::containing(&marker));
        }
        let ports = Ports {
            web: self.web_port,
            api: self.api_port,
        };
        or_fail(
            write_release(self.stack.dir.path(), app, version, spec, ports),
            "build a release",
        )
    }

    /// Publishes `version` of the world's app from `compose` (not promoted).
    pub fn publish(&self, version: &str, compose: &Path) {
        self.publish_app(&self.app, version, compose, &[]);
    }

    /// Publishes `version` of `app` from `compose` with `extra` publish arguments.
    pub fn publish_app(&self, app: &str, version: &str, compose: &Path, extra: &[&str]) {
        let compose = compose.to_string_lossy();
        let mut args = vec![
            "publish",
            "--app",
            app,
            "--version",
            version,
            "--compose",
            &compose,
        ];
        args.extend_from_slice(extra);
        self.vendor_ok(&args);
    }

    /// Promotes `version` of the world's app to `channel`.
    pub fn promote(&self, version: &str, channel: &str) {
        self.promote_app(&self.app, version, channel);
    }

    /// Promotes `version` of `app` to `channel`.
    pub fn promote_app(&self, app: &str, version: &str, channel: &str) {
        self.vendor_ok(&[
            "promote",
            "--app",
            app,
            "--version",
            version,
            "--channel",
            channel,
        ]);
    }

    /// Builds and publishes `version` (not promoted).
    pub fn publish_built(&self, version: &str, spec: Spec) {
        let compose = self.build(version, spec);
        self.publish(version, &compose);
    }

    /// Builds, publishes and promotes `version` to `stable`.
    pub fn release(&self, version: &str, spec: Spec) {
        self.release_app(&self.app, version, spec);
    }

    /// Builds, publishes and promotes `version` of `app` to `stable`.
    pub fn release_app(&self, app: &str, version: &str, spec: Spec) {
        let compose = self.build_app(app, version, spec);
        self.publish_app(app, version, &compose, &[]);
        self.promote_app(app, version, "stable");
    }

    /// The release document of `version` the control plane stores, from its API.
    pub fn release_document(&self, version: &str) -> Value {
        or_fail(
            self.stack.release_document(&self.app, version),
            "fetch the release document",
        )
    }

    // --- The vendor CLI. ---

    /// A vendor command; returns its output.
    pub fn vendor(&self, args: &[&str]) -> Output {
        or_fail(
            self.stack.vendor().args(args).output(),
            "run driftless-vendor",
        )
    }

    /// A vendor command that must succeed; returns stdout.
    pub fn vendor_ok(&self, args: &[&str]) -> String {
        or_fail(self.stack.vendor_ok(args), "driftless-vendor")
    }

    /// A vendor command printing JSON, parsed.
    pub fn vendor_json(&self, args: &[&str]) -> Value {
        let out = self.vendor_ok(args);
        or_fail(serde_json::from_str(&out), &format!("JSON of {args:?}"))
    }

    /// A rollout action (`pause`, `resume`, `advance`, `abort`) on `stable`.
    pub fn rollout(&self, verb: &str) -> Value {
        self.vendor_json(&["rollout", verb, "--app", &self.app, "--channel", "stable"])
    }

    /// `rollout list` of the world's app.
    pub fn rollouts(&self) -> Vec<Value> {
        match self.vendor_json(&["rollout", "list", "--app", &self.app, "--json"]) {
            Value::Array(rollouts) => rollouts,
            other => panic!("rollout list is not an array: {other}"),
        }
    }

    /// `fleet --json`: the row of install `id`.
    pub fn fleet_row(&self, id: &str) -> Value {
        let fleet = self.vendor_json(&["fleet", "--app", &self.app, "--json"]);
        fleet
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["id"] == id))
            .unwrap_or_else(|| panic!("install {id} missing from fleet: {fleet}"))
            .clone()
    }

    // --- Hosts: what the customer does. ---

    /// Installs `host` with the world's license into its own project; returns its id.
    pub fn install(&self, host: &str) -> String {
        let out = self.install_with(host, &self.license);
        assert_success(&out, "driftless install");
        let id = stdout(&out).trim().to_string();
        assert!(!id.is_empty(), "install printed no install id");
        id
    }

    /// The compose project of `host`, removed with its containers, networks and
    /// volumes when the world is dropped: for a test that installs `host` its own way.
    pub fn owned_project(&self, host: &str) -> String {
        let project = self.project(host);
        let mut projects = self.projects.borrow_mut();
        if !projects.iter().any(|p| p.name() == project) {
            projects.push(ComposeProject::named(&project));
        }
        project
    }

    /// Runs `driftless install` of `host` with `license`; returns its output.
    pub fn install_with(&self, host: &str, license: &str) -> Output {
        let project = self.owned_project(host);
        let out = self
            .cli(host)
            .args(["install", "--server", &self.stack.url()])
            .args(["--license", license])
            .args(["--root-fingerprint", &self.stack.fingerprint])
            .args(["--project", &project])
            .output();
        or_fail(out, "run driftless install")
    }

    /// Points `host` at the control plane at `url`, writing its config the way the CLI
    /// does: config.toml and its managed copy, so the change is not taken for drift.
    pub fn point_host_at(&self, host: &str, url: &str) {
        let config = self.state_dir(host).join("config.toml");
        let text = or_fail(std::fs::read_to_string(&config), "read config.toml");
        let real = format!("server = \"{}\"", self.stack.url());
        assert!(text.contains(&real), "config.toml: {text}");
        let pointed = text.replace(&real, &format!("server = \"{url}\""));
        or_fail(std::fs::write(&config, &pointed), "write config.toml");
        let managed = self.state_dir(host).join(".config.toml.managed");
        or_fail(
            std::fs::write(managed, &pointed),
            "write .config.toml.managed",
        );
    }

    /// A `driftless` command aimed at `host`'s state dir.
    pub fn cli(&self, host: &str) -> Command {
        self.stack.cli_using(&self.cli_bin, host)
    }

    /// Runs `driftless args…` on `host`; returns its output.
    pub fn driftless(&self, host: &str, args: &[&str]) -> Output {
        or_fail(self.cli(host).args(args).output(), "run driftless")
    }

    /// `driftless sync` on `host`.
    pub fn sync(&self, host: &str) -> Output {
        self.driftless(host, &["sync"])
    }

    /// `driftless sync` on `host`, which must succeed.
    pub fn sync_ok(&self, host: &str) -> Output {
        let out = self.sync(host);
        assert_success(&out, &format!("driftless sync on {host}"));
        out
    }

    /// `driftless status --json` of `host`.
    pub fn status(&self, host: &str) -> Value {
        let out = self.driftless(host, &["status", "--json"]);
        assert_success(&out, "driftless status --json");
        or_fail(serde_json::from_slice(&out.stdout), "parse status --json")
    }

    /// `host`'s state dir.
    pub fn state_dir(&self, host: &str) -> PathBuf {
        self.stack.host_state_dir(host)
    }

    // --- What runs on a host. ---

    /// Every container of `host`'s project, running or not.
    pub fn all_containers(&self, host: &str) -> Vec<String> {
        containers(&self.project(host), true, None)
    }

    /// `host`'s running containers.
    pub fn running_containers(&self, host: &str) -> Vec<String> {
        containers(&self.project(host), false, None)
    }

    /// The id of the one container of `service` on `host`.
    pub fn container_of(&self, host: &str, service: &str) -> String {
        let ids = containers(&self.project(host), true, Some(service));
        assert_eq!(
            ids.len(),
            1,
            "expected one container of {service} on {host}, found {ids:?}"
        );
        ids[0].clone()
    }

    /// What `service`'s container on `host` serves, asked from inside it.
    pub fn served(&self, host: &str, service: &str) -> String {
        let id = self.container_of(host, service);
        let out = Command::new("docker")
            .args(["exec", &id, "/bin/busybox", "wget", "-q", "-O", "-"])
            .arg("http://127.0.0.1:8080/")
            .output();
        let out = or_fail(out, "run docker exec");
        assert_success(&out, &format!("wget in {service} on {host}"));
        stdout(&out).trim().to_string()
    }

    /// Asserts `host` runs `version`: each service's container is running and serves
    /// `<service> <version>`, and `status --json` says so.
    pub fn assert_runs(&self, host: &str, version: &str) {
        assert_eq!(self.running_containers(host).len(), SERVICES.len());
        for s in SERVICES {
            assert_eq!(
                self.served(host, s),
                format!("{s} {version}"),
                "{s} on {host}"
            );
        }
        let status = self.status(host);
        assert_eq!(
            status["current_version"], version,
            "status of {host}: {status}"
        );
    }

    /// Asserts the world's host ports serve `version`.
    pub fn assert_serves_on_ports(&self, version: &str) {
        assert_eq!(http_body(self.web_port), format!("web {version}"));
        assert_eq!(http_body(self.api_port), format!("api {version}"));
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Containers first: an image a container uses cannot be untagged.
        self.projects.borrow_mut().clear();
        self.images.borrow_mut().clear();
    }
}
