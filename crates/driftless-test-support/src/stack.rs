//! The whole channel for end-to-end tests: a data directory made by the real
//! `driftless-vendor init`, the real registry trusting its token certificate, and the
//! real `driftless-vendor serve`, all on free loopback ports in one temp dir.

use anyhow::{bail, Context as _, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::control_plane::{
    create_app_with_license, init_data_dir, spawn_serve_with_env, vendor_output,
};
use crate::registry::{Registry, RegistryOptions};

/// The path of a workspace binary built by `cargo build --bins` (scripts/test does).
pub fn workspace_bin(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("cannot locate the target directory")?;
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "{} is missing; run `cargo build --bins` first (scripts/test does)",
            path.display()
        );
    }
    Ok(path)
}

/// A free loopback port (bound and released).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running registry and control plane.
pub struct Stack {
    /// Everything lives here.
    pub dir: tempfile::TempDir,
    /// The registry.
    pub registry: Registry,
    control: Option<Child>,
    /// `127.0.0.1:PORT` of the control plane.
    pub control_addr: String,
    /// The operator token.
    pub token: String,
    /// The root fingerprint installs pin.
    pub fingerprint: String,
    /// The `driftless-vendor` binary.
    pub vendor_bin: PathBuf,
    /// The `driftless` binary.
    pub cli_bin: PathBuf,
    /// What `serve` gets added to its environment at its next start.
    pub serve_env: Vec<(String, String)>,
    /// What every `driftless` command gets added to its environment.
    pub cli_env: Vec<(String, String)>,
}

impl Stack {
    /// Initialises a data dir and starts the registry and the control plane.
    pub fn start() -> Result<Stack> {
        crate::prereq::require_docker();
        let vendor_bin = workspace_bin("driftless-vendor")?;
        let cli_bin = workspace_bin("driftless")?;
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("control");
        let control_addr = format!("127.0.0.1:{}", free_port()?);
        let init = init_data_dir(&vendor_bin, &data, &control_addr)?;
        let registry = Registry::start(&RegistryOptions {
            rootcertbundle: data.join("keys/registry-token-bundle.crt"),
            realm: format!("http://{control_addr}/v1/registry/token"),
            service: "driftless-registry".into(),
            issuer: "driftless".into(),
        })?;
        // init ran before the registry had a port: point the settings at it now.
        let settings = data.join("settings.toml");
        let text = std::fs::read_to_string(&settings)?;
        std::fs::write(
            &settings,
            text.replace("\"127.0.0.1:1\"", &format!("\"{}\"", registry.host())),
        )?;
        let mut stack = Stack {
            token: init.token,
            fingerprint: init.fingerprint,
            dir,
            registry,
            control: None,
            control_addr,
            vendor_bin,
            cli_bin,
            serve_env: Vec::new(),
            cli_env: Vec::new(),
        };
        stack.start_control()?;
        Ok(stack)
    }

    /// The control plane's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("control")
    }

    /// The control plane's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.control_addr)
    }

    /// Where `serve` writes its log (stderr); a restart starts it afresh.
    pub fn control_log(&self) -> PathBuf {
        self.dir.path().join("control-plane.log")
    }

    /// Starts (or restarts) `driftless-vendor serve`.
    pub fn start_control(&mut self) -> Result<()> {
        self.stop_control();
        let child = spawn_serve_with_env(
            &self.vendor_bin,
            &self.data_dir(),
            &self.control_log(),
            &self.control_addr,
            &self.serve_env,
        )?;
        self.control = Some(child);
        Ok(())
    }

    /// Stops the control plane (for "control plane down" tests).
    pub fn stop_control(&mut self) {
        if let Some(mut c) = self.control.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A `driftless-vendor` command aimed at this stack.
    pub fn vendor(&self) -> Command {
        let mut c = Command::new(&self.vendor_bin);
        c.env("DRIFTLESS_SERVER", self.url())
            .env("DRIFTLESS_TOKEN", &self.token)
            .env(
                "DRIFTLESS_RELEASE_KEY_FILE",
                self.data_dir().join("offline-keys/release.pem"),
            )
            .env_remove("DRIFTLESS_RELEASE_KEY");
        c
    }

    /// Runs a vendor command and returns its stdout, failing with its stderr.
    pub fn vendor_ok(&self, args: &[&str]) -> Result<String> {
        vendor_output(self.vendor(), args)
    }

    /// Creates app `app` with channel `stable`, a customer and a license; returns the key.
    pub fn app_with_license(&self, app: &str) -> Result<String> {
        create_app_with_license(|args| self.vendor_ok(args), app)
    }

    /// A `driftless` command with its own state dir under this stack.
    pub fn cli(&self, host: &str) -> Command {
        self.cli_using(&self.cli_bin, host)
    }

    /// The `driftless` binary at `bin` aimed at `host`'s state dir under this stack.
    pub fn cli_using(&self, bin: &Path, host: &str) -> Command {
        let mut c = Command::new(bin);
        c.arg("--state-dir")
            .arg(self.host_state_dir(host))
            .env("NO_COLOR", "1")
            // Set by a CLI that re-executes itself after a self-update, never by a user.
            .env_remove("DRIFTLESS_SELF_UPDATED")
            .envs(self.cli_env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// The state dir of `host`.
    pub fn host_state_dir(&self, host: &str) -> PathBuf {
        self.dir.path().join("hosts").join(host)
    }

    /// What `GET /v1/apps/{app}/releases/{version}` answers the operator: the release's
    /// facts and its stored `envelope`. Blocking: call it from a test thread, not a runtime.
    pub fn release(&self, app: &str, version: &str) -> Result<serde_json::Value> {
        let url = format!("{}/v1/apps/{app}/releases/{version}", self.url());
        let resp = reqwest::blocking::Client::new()
            .get(&url)
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(10))
            .send()
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body = resp.text().with_context(|| format!("GET {url}: body"))?;
        if !status.is_success() {
            bail!("GET {url} answered {status}: {body}");
        }
        serde_json::from_str(&body).with_context(|| format!("GET {url}: not JSON: {body}"))
    }

    /// A registry token the token endpoint gives `user` with `password` (the operator
    /// token, or an install's `registry-login` credential) for pulling `repos`.
    /// Blocking: call it from a test thread, not a runtime.
    pub fn registry_token(&self, user: &str, password: &str, repos: &[&str]) -> Result<String> {
        let url = format!("{}/v1/registry/token", self.url());
        let scopes: Vec<(&str, String)> = repos
            .iter()
            .map(|r| ("scope", format!("repository:{r}:pull")))
            .collect();
        let answer: serde_json::Value = reqwest::blocking::Client::new()
            .get(&url)
            .basic_auth(user, Some(password))
            .query(&[("service", "driftless-registry")])
            .query(&scopes)
            .timeout(Duration::from_secs(10))
            .send()
            .with_context(|| format!("GET {url}"))?
            .error_for_status()
            .with_context(|| format!("GET {url}"))?
            .json()
            .with_context(|| format!("GET {url}: not JSON"))?;
        answer["token"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("GET {url}: no token in {answer}"))
    }

    /// The release document of `app` at `version`: the stored envelope's decoded payload.
    pub fn release_document(&self, app: &str, version: &str) -> Result<serde_json::Value> {
        let release = self.release(app, version)?;
        let payload = release["envelope"]["payload"].as_str().with_context(|| {
            format!("release {app} {version} has no envelope payload: {release}")
        })?;
        let bytes = B64
            .decode(payload)
            .with_context(|| format!("release {app} {version}: payload is not base64"))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("release {app} {version}: payload is not JSON"))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop_control();
    }
}
