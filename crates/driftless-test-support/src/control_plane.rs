//! The control plane alone: `driftless-vendor init` and `serve` on a free loopback port
//! in a temp dir, with no registry and no Docker, for tests of commands that only talk
//! to the control plane (install, registry-login, the release-key checks of publish).

use anyhow::{bail, Context as _, Result};
use std::ffi::OsStr;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::stack::{free_port, workspace_bin};

/// A running `driftless-vendor serve`; killed on drop.
pub struct ControlPlane {
    /// Everything lives here; the data dir is `control/`.
    pub dir: tempfile::TempDir,
    serve: Child,
    /// The control plane's URL.
    pub url: String,
    /// The operator token.
    pub token: String,
    /// The root fingerprint installs pin.
    pub fingerprint: String,
    /// The `driftless-vendor` binary.
    pub vendor_bin: PathBuf,
}

/// What `driftless-vendor init --json` printed.
pub struct Initialised {
    /// The operator token.
    pub token: String,
    /// The root fingerprint installs pin.
    pub fingerprint: String,
}

/// Runs `driftless-vendor init --json` for a data dir at `data` whose `serve` listens on
/// `listen` (a registry at 127.0.0.1:1 until the caller points it at a real one).
pub fn init_data_dir(vendor_bin: &Path, data: &Path, listen: &str) -> Result<Initialised> {
    let out = Command::new(vendor_bin)
        .args(["init", "--json", "--registry-insecure", "--listen", listen])
        .args(["--registry-host", "127.0.0.1:1", "--data-dir"])
        .arg(data)
        .output()?;
    if !out.status.success() {
        bail!(
            "driftless-vendor init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let init: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let field = |k: &str| {
        init[k]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("init output lacks `{k}`"))
    };
    Ok(Initialised {
        token: field("operator_token")?,
        fingerprint: field("root_fingerprint")?,
    })
}

/// Starts `driftless-vendor serve` on `data`, logging to `log`, and waits until `addr`
/// accepts connections.
pub fn spawn_serve(vendor_bin: &Path, data: &Path, log: &Path, addr: &str) -> Result<Child> {
    spawn_serve_with(vendor_bin, data, log, addr, &[])
}

/// [`spawn_serve`] with `env` added to the environment of `serve`.
pub fn spawn_serve_with_env(
    vendor_bin: &Path,
    data: &Path,
    log: &Path,
    addr: &str,
    env: &[(String, String)],
) -> Result<Child> {
    spawn_serve_configured(vendor_bin, data, log, addr, &[], env)
}

/// [`spawn_serve`] with more arguments for `serve`.
pub fn spawn_serve_with(
    vendor_bin: &Path,
    data: &Path,
    log: &Path,
    addr: &str,
    args: &[&OsStr],
) -> Result<Child> {
    spawn_serve_configured(vendor_bin, data, log, addr, args, &[])
}

fn spawn_serve_configured(
    vendor_bin: &Path,
    data: &Path,
    log: &Path,
    addr: &str,
    args: &[&OsStr],
    env: &[(String, String)],
) -> Result<Child> {
    let mut child = Command::new(vendor_bin)
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("serve did not start on {addr}; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(child)
}

/// Runs a vendor command and returns its stdout, failing with its stderr.
pub fn vendor_output(mut cmd: Command, args: &[&str]) -> Result<String> {
    let out = cmd.args(args).output()?;
    if !out.status.success() {
        bail!(
            "driftless-vendor {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Creates app `app` with channel `stable`, a customer and a license through
/// `vendor_ok`; returns the license key.
pub fn create_app_with_license(
    vendor_ok: impl Fn(&[&str]) -> Result<String>,
    app: &str,
) -> Result<String> {
    vendor_ok(&["app", "create", app])?;
    vendor_ok(&["channel", "create", "--app", app, "stable"])?;
    let customer = format!("customer-of-{app}");
    vendor_ok(&["customer", "create", &customer])?;
    let args = ["license", "create", "--customer", &customer, "--app", app];
    vendor_ok(&[&args[..], &["--channel", "stable"]].concat())
}

impl ControlPlane {
    /// Initialises a data dir and starts `serve` on it.
    pub fn start() -> Result<ControlPlane> {
        let vendor_bin = workspace_bin("driftless-vendor")?;
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("control");
        let addr = format!("127.0.0.1:{}", free_port()?);
        let init = init_data_dir(&vendor_bin, &data, &addr)?;
        let log = dir.path().join("control-plane.log");
        let serve = spawn_serve(&vendor_bin, &data, &log, &addr)?;
        Ok(ControlPlane {
            dir,
            serve,
            url: format!("http://{addr}"),
            token: init.token,
            fingerprint: init.fingerprint,
            vendor_bin,
        })
    }

    /// The data directory (`offline-keys/release.pem` holds the release key).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("control")
    }

    /// A `driftless-vendor` command aimed at this control plane, with no release key
    /// in its environment.
    pub fn vendor(&self) -> Command {
        let mut c = Command::new(&self.vendor_bin);
        c.env("DRIFTLESS_SERVER", &self.url)
            .env("DRIFTLESS_TOKEN", &self.token)
            .env_remove("DRIFTLESS_RELEASE_KEY")
            .env_remove("DRIFTLESS_RELEASE_KEY_FILE");
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
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.serve.kill();
        let _ = self.serve.wait();
    }
}
