//! Helpers shared by the end-to-end test files that drive several hosts: a world (a
//! stack, an app on it, its license) whose hosts each own a state dir and a compose
//! project, all removed when the world drops, pass or fail.
//!
//! Every host's containers carry the compose project label `<app>-<host>`, so a guard
//! can find and remove them; compose also makes `<project>_default`, removed too.
#![allow(dead_code, clippy::unwrap_used)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_test_support::images::{build_failing_image, build_http_image};
use driftless_test_support::stack::{free_port, Stack};
use serde_json::Value;
use sha2::Digest as _;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Exit codes of crates/driftless-exit (kept literal: they are the CLI's interface).
pub const CONFLICT: i32 = 5;
pub const RUNTIME: i32 = 10;

/// The two services every test app has.
pub const SERVICES: [&str; 2] = ["web", "api"];

/// How a release's compose file is made.
#[derive(Clone, Copy, Default)]
pub struct Spec {
    /// Publish web and api on the world's host ports (config values WEB_PORT/API_PORT).
    pub ports: bool,
    /// `x-driftless.health.timeout_s`, with a probe of web when `ports` is set.
    pub health_timeout_s: Option<u64>,
    /// web's image exits 1 at once (never healthy).
    pub failing_web: bool,
}

/// `<test>-<pid>`: unique per test and per run; a valid app, repository and project name.
pub fn unique(test: &str) -> String {
    format!("e2e-{test}-{}", std::process::id())
}

/// One test's world: a stack, an app on it with channel `stable`, and its hosts.
pub struct World {
    pub stack: Stack,
    pub app: String,
    pub license: String,
    pub web_port: u16,
    pub api_port: u16,
    hosts: RefCell<Vec<String>>,
}

impl World {
    pub fn new(test: &str) -> World {
        let stack = Stack::start().unwrap();
        let app = unique(test);
        let license = stack.app_with_license(&app).unwrap();
        World {
            stack,
            app,
            license,
            web_port: free_port().unwrap(),
            api_port: free_port().unwrap(),
            hosts: RefCell::new(Vec::new()),
        }
    }

    /// Sets `key = value` in the control plane's settings.toml and restarts it.
    pub fn set_server_setting(&mut self, key: &str, value: u64) {
        let path = self.stack.data_dir().join("settings.toml");
        let text = std::fs::read_to_string(&path).unwrap();
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
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        self.stack.start_control().unwrap();
    }

    /// The compose project of `host`.
    pub fn project(&self, host: &str) -> String {
        format!("{}-{host}", self.app)
    }

    /// Builds the images of `version` and writes its compose file; returns the file.
    pub fn build(&self, version: &str, spec: Spec) -> PathBuf {
        let mut services = String::new();
        for (service, port_var) in SERVICES.iter().zip(["WEB_PORT", "API_PORT"]) {
            let tag = format!("{}/{service}:{version}", self.app);
            if spec.failing_web && *service == "web" {
                with_retries(|| build_failing_image(&tag));
            } else {
                let body = format!("{service} {version}");
                with_retries(|| build_http_image(&tag, &body));
            }
            services.push_str(&format!(
                "  {service}:\n    image: {tag}\n    network_mode: bridge\n    environment:\n      GREETING: ${{GREETING}}\n"
            ));
            if spec.ports {
                services.push_str(&format!(
                    "    ports:\n      - \"127.0.0.1:${{{port_var}}}:8080\"\n"
                ));
            }
        }
        let mut ext = String::from(
            "x-driftless:\n  config:\n    - name: GREETING\n      type: string\n      default: Hello\n",
        );
        if spec.ports {
            ext.push_str(&format!(
                "    - name: WEB_PORT\n      type: port\n      default: \"{}\"\n    - name: API_PORT\n      type: port\n      default: \"{}\"\n",
                self.web_port, self.api_port
            ));
        }
        if let Some(t) = spec.health_timeout_s {
            ext.push_str(&format!("  health:\n    timeout_s: {t}\n"));
            if spec.ports {
                ext.push_str(
                    "    probe:\n      url: \"http://127.0.0.1:${WEB_PORT}/\"\n      status: 200\n",
                );
            }
        }
        let path = self
            .stack
            .dir
            .path()
            .join(format!("{}-{version}.yaml", self.app));
        std::fs::write(&path, format!("{ext}services:\n{services}")).unwrap();
        path
    }

    pub fn publish(&self, version: &str, compose: &Path) {
        self.stack
            .vendor_ok(&[
                "publish",
                "--app",
                &self.app,
                "--version",
                version,
                "--compose",
                compose.to_str().unwrap(),
            ])
            .unwrap();
    }

    pub fn promote(&self, version: &str, channel: &str) {
        self.stack
            .vendor_ok(&[
                "promote",
                "--app",
                &self.app,
                "--version",
                version,
                "--channel",
                channel,
            ])
            .unwrap();
    }

    /// Builds and publishes `version` (not promoted).
    pub fn publish_built(&self, version: &str, spec: Spec) {
        let compose = self.build(version, spec);
        self.publish(version, &compose);
    }

    /// Builds, publishes and promotes `version` to `stable`.
    pub fn release(&self, version: &str, spec: Spec) {
        self.publish_built(version, spec);
        self.promote(version, "stable");
    }

    /// A vendor command on this world's app; returns its output.
    pub fn vendor(&self, args: &[&str]) -> Output {
        self.stack.vendor().args(args).output().unwrap()
    }

    /// A vendor command that must succeed; returns stdout.
    pub fn vendor_ok(&self, args: &[&str]) -> String {
        self.stack.vendor_ok(args).unwrap()
    }

    /// A rollout action (`pause`, `resume`, `advance`, `abort`) on `stable`.
    pub fn rollout(&self, verb: &str) -> Value {
        let out = self.vendor_ok(&["rollout", verb, "--app", &self.app, "--channel", "stable"]);
        serde_json::from_str(&out).unwrap()
    }

    /// `rollout list` of the world's app.
    pub fn rollouts(&self) -> Vec<Value> {
        let out = self.vendor_ok(&["rollout", "list", "--app", &self.app]);
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// `fleet --json`: the row of install `id`.
    pub fn fleet_row(&self, id: &str) -> Value {
        let out = self.vendor_ok(&["fleet", "--app", &self.app, "--json"]);
        let fleet: Value = serde_json::from_str(&out).unwrap();
        fleet
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("install {id} missing from fleet: {fleet}"))
            .clone()
    }

    /// Installs `host` with the world's license into its own project; returns its id.
    pub fn install(&self, host: &str) -> String {
        self.hosts.borrow_mut().push(host.to_string());
        let out = self
            .stack
            .cli(host)
            .args(["install", "--server", &self.stack.url()])
            .args(["--license", &self.license])
            .args(["--root-fingerprint", &self.stack.fingerprint])
            .args(["--project", &self.project(host)])
            .output()
            .unwrap();
        assert_success(&out, "driftless install");
        let id = stdout(&out).trim().to_string();
        assert!(!id.is_empty(), "install printed no install id");
        id
    }

    pub fn cli(&self, host: &str) -> Command {
        self.stack.cli(host)
    }

    pub fn driftless(&self, host: &str, args: &[&str]) -> Output {
        self.stack.cli(host).args(args).output().unwrap()
    }

    pub fn sync(&self, host: &str) -> Output {
        self.driftless(host, &["sync"])
    }

    pub fn sync_ok(&self, host: &str) -> Output {
        let out = self.sync(host);
        assert_success(&out, &format!("driftless sync on {host}"));
        out
    }

    pub fn status(&self, host: &str) -> Value {
        let out = self.driftless(host, &["status", "--json"]);
        assert_success(&out, "driftless status --json");
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn state_dir(&self, host: &str) -> PathBuf {
        self.stack.dir.path().join("hosts").join(host)
    }

    fn docker_ps(&self, host: &str, all: bool, service: Option<&str>) -> Vec<String> {
        let mut c = Command::new("docker");
        c.args(["ps", "--no-trunc", if all { "-aq" } else { "-q" }])
            .args([
                "--filter",
                &format!("label=com.docker.compose.project={}", self.project(host)),
            ]);
        if let Some(s) = service {
            c.args(["--filter", &format!("label=com.docker.compose.service={s}")]);
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "docker ps failed: {}", stderr(&out));
        let mut ids: Vec<String> = stdout(&out)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        ids.sort();
        ids
    }

    /// Every container of `host`'s project, running or not.
    pub fn all_containers(&self, host: &str) -> Vec<String> {
        self.docker_ps(host, true, None)
    }

    /// `host`'s running containers.
    pub fn running_containers(&self, host: &str) -> Vec<String> {
        self.docker_ps(host, false, None)
    }

    /// The id of the one container of `service` on `host`.
    pub fn container_of(&self, host: &str, service: &str) -> String {
        let ids = self.docker_ps(host, true, Some(service));
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
            .output()
            .unwrap();
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

    /// The stored release document of `version`.
    pub fn release_document(&self, version: &str) -> Value {
        let db = rusqlite::Connection::open(self.stack.data_dir().join("driftless.db")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        let text: String = db
            .query_row(
                "SELECT envelope FROM releases WHERE app = ?1 AND version = ?2",
                [&self.app, version],
                |row| row.get(0),
            )
            .unwrap();
        let env: Value = serde_json::from_str(&text).unwrap();
        let payload = B64.decode(env["payload"].as_str().unwrap()).unwrap();
        serde_json::from_slice(&payload).unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for host in self.hosts.borrow().iter() {
            let ids = self.docker_ps(host, true, None);
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["rm", "-f"])
                    .args(&ids)
                    .output();
            }
            // Compose made a network for the project; the engine has room for few of them.
            let _ = Command::new("docker")
                .args(["network", "rm", &format!("{}_default", self.project(host))])
                .output();
        }
        // Tags this test made. By name only: an image id can be shared with another test.
        let marker = format!("{}/", self.app);
        if let Ok(out) = Command::new("docker")
            .args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
            .output()
        {
            let refs: Vec<String> = stdout(&out)
                .lines()
                .filter(|r| r.contains(&marker) && !r.ends_with(":<none>"))
                .map(str::to_string)
                .collect();
            if !refs.is_empty() {
                let _ = Command::new("docker").arg("rmi").args(&refs).output();
            }
        }
    }
}

/// Builds an image, retrying: tests running at once build the same bytes, and one
/// test removing its tags can take the legacy builder's cached layer from another.
pub fn with_retries(mut build: impl FnMut() -> anyhow::Result<String>) -> String {
    let mut last = None;
    for _ in 0..4 {
        match build() {
            Ok(id) => return id,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("docker build failed 4 times: {:?}", last.unwrap())
}

/// An install's rollout seed: the first two bytes of SHA-256(id), big-endian, mod 2048.
pub fn seed(install_id: &str) -> u32 {
    let h = sha2::Sha256::digest(install_id.as_bytes());
    u32::from(u16::from_be_bytes([h[0], h[1]])) % 2048
}

/// The seeds a wave of `pct`% opens: those below this.
pub fn seed_limit(pct: u32) -> u32 {
    (pct * 2048).div_ceil(100)
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed with {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

/// Asserts the command exited with `code`.
pub fn assert_code(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: wrong exit status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// The body served on `127.0.0.1:port/`.
pub fn http_body(port: u16) -> String {
    let resp = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/"))
        .timeout(Duration::from_secs(5))
        .send()
        .unwrap();
    assert!(
        resp.status().is_success(),
        "GET :{port}/ answered {}",
        resp.status()
    );
    resp.text().unwrap().trim().to_string()
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
