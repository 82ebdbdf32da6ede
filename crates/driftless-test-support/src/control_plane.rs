//! The control plane alone: `driftless-vendor init` and `serve` on a free loopback port
//! in a temp dir, with no registry and no Docker, for tests of commands that only talk
//! to the control plane (install, registry-login, the release-key checks of publish).

use anyhow::{bail, Context as _, Result};
use std::net::TcpStream;
use std::path::PathBuf;
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

impl ControlPlane {
    /// Initialises a data dir and starts `serve` on it.
    pub fn start() -> Result<ControlPlane> {
        let vendor_bin = workspace_bin("driftless-vendor")?;
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("control");
        let addr = format!("127.0.0.1:{}", free_port()?);
        let out = Command::new(&vendor_bin)
            .args(["init", "--json", "--registry-insecure", "--listen", &addr])
            .args(["--registry-host", "127.0.0.1:1", "--data-dir"])
            .arg(&data)
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
        let (token, fingerprint) = (field("operator_token")?, field("root_fingerprint")?);
        let log = std::fs::File::create(dir.path().join("control-plane.log"))?;
        let serve = Command::new(&vendor_bin)
            .args(["serve", "--data-dir"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let cp = ControlPlane {
            dir,
            serve,
            url: format!("http://{addr}"),
            token,
            fingerprint,
            vendor_bin,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_err() {
            if Instant::now() >= deadline {
                bail!("serve did not start on {addr}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(cp)
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
        let out = self.vendor().args(args).output()?;
        if !out.status.success() {
            bail!(
                "driftless-vendor {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Creates app `app` with channel `stable`, a customer and a license; returns the key.
    pub fn app_with_license(&self, app: &str) -> Result<String> {
        self.vendor_ok(&["app", "create", app])?;
        self.vendor_ok(&["channel", "create", "--app", app, "stable"])?;
        let customer = format!("customer-of-{app}");
        self.vendor_ok(&["customer", "create", &customer])?;
        let args = ["license", "create", "--customer", &customer, "--app", app];
        self.vendor_ok(&[&args[..], &["--channel", "stable"]].concat())
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.serve.kill();
        let _ = self.serve.wait();
    }
}
