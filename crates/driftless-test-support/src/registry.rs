//! The real CNCF distribution registry (`/usr/bin/docker-registry`) with token auth,
//! started on a free loopback port with its storage in a temp dir.

use anyhow::{bail, Context};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `docker-registry` package installs distribution 2.8.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// How long the registry gets to answer on `/v2/` after starting.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How many free ports are tried when another process grabs the one picked.
const START_ATTEMPTS: usize = 3;

/// How the registry checks tokens: the `auth.token` section of its config.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// PEM bundle of the certificates whose keys may sign tokens.
    pub rootcertbundle: PathBuf,
    /// Token endpoint URL the registry sends clients to.
    pub realm: String,
    /// Service name: tokens must carry it as `aud`.
    pub service: String,
    /// Issuer name: tokens must carry it as `iss`.
    pub issuer: String,
}

/// A running registry; killed on drop, its storage and log kept until then.
pub struct Registry {
    child: Option<Child>,
    addr: String,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts /usr/bin/docker-registry on 127.0.0.1:<free port> with filesystem storage
    /// in a temp dir and `auth: token:` from `opts`, and waits until it answers on `/v2/`.
    pub fn start(opts: &RegistryOptions) -> anyhow::Result<Registry> {
        Self::start_with(&|addr, storage| registry_config_yaml(opts, addr, storage))
    }

    /// Starts a registry without auth (anyone may pull and push), as a customer's own
    /// registry on their network might be.
    pub fn start_open() -> anyhow::Result<Registry> {
        Self::start_with(&open_registry_config_yaml)
    }

    fn start_with(config: &dyn Fn(&str, &Path) -> String) -> anyhow::Result<Registry> {
        if !Path::new(REGISTRY_BIN).is_file() {
            bail!(
                "`docker-registry` is not installed at {REGISTRY_BIN}; tests need the real \
                 registry (Debian package docker-registry, which scripts/test installs)"
            );
        }
        let mut last_err = None;
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(config) {
                Ok(registry) => return Ok(registry),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("docker-registry was never started")))
    }

    fn start_once(config_of: &dyn Fn(&str, &Path) -> String) -> anyhow::Result<Registry> {
        let dir = tempfile::Builder::new()
            .prefix("driftless-registry-")
            .tempdir()
            .context("cannot create a temp dir for the registry")?;
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage)
            .with_context(|| format!("cannot create {}", storage.display()))?;
        let addr = format!("127.0.0.1:{}", free_port()?);
        let config = dir.path().join("config.yml");
        std::fs::write(&config, config_of(&addr, &storage))
            .with_context(|| format!("cannot write {}", config.display()))?;
        let log_path = dir.path().join("registry.log");
        let log = File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut command = Command::new(REGISTRY_BIN);
        command
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .context("cannot share the registry log file")?,
            )
            .stderr(log);
        // REGISTRY_* variables override the config file; the test's config must win.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("REGISTRY_") {
                command.env_remove(name);
            }
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot run `docker-registry` ({REGISTRY_BIN})"))?;
        let mut registry = Registry {
            child: Some(child),
            addr,
            dir,
        };
        registry.wait_until_ready(&log_path)?;
        Ok(registry)
    }

    fn wait_until_ready(&mut self, log_path: &Path) -> anyhow::Result<()> {
        let url = format!("http://{}/v2/", self.addr);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    bail!(
                        "`docker-registry` exited ({status}) before answering on {url}; \
                         see its log at {}:\n{}",
                        log_path.display(),
                        read_log_tail(log_path)
                    );
                }
            }
            if matches!(probe_v2(&self.addr), Some(200 | 401)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                bail!(
                    "`docker-registry` did not answer on {url} within {}s; see its log at {}:\n{}",
                    STARTUP_TIMEOUT.as_secs(),
                    log_path.display(),
                    read_log_tail(log_path)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The registry's `host:port`, e.g. `127.0.0.1:41234`.
    pub fn host(&self) -> String {
        self.addr.clone()
    }

    /// Root of the filesystem storage (blobs live under `docker/registry/v2/blobs`).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Where the registry keeps the blob `sha256:<hex>`.
    pub fn blob_path(&self, digest: &str) -> anyhow::Result<PathBuf> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() > 2)
            .with_context(|| format!("{digest} is not a sha256 digest"))?;
        Ok(self
            .storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data"))
    }

    /// Where the registry keeps its repositories (one directory per top-level name).
    pub fn repositories_dir(&self) -> PathBuf {
        self.storage_dir().join("docker/registry/v2/repositories")
    }

    /// The top-level names the registry holds repositories under (e.g. apps).
    pub fn repositories(&self) -> Vec<String> {
        match std::fs::read_dir(self.repositories_dir()) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The registry's combined stdout and stderr.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// Kills the registry now, to test what clients do when it is down.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Already-exited is fine: the point is that it is not running.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The distribution config: listen on `addr`, store under `storage`, check tokens per `opts`.
pub fn registry_config_yaml(opts: &RegistryOptions, addr: &str, storage: &Path) -> String {
    format!(
        r#"{open}auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {bundle}
"#,
        open = open_registry_config_yaml(addr, storage),
        realm = yaml_str(&opts.realm),
        service = yaml_str(&opts.service),
        issuer = yaml_str(&opts.issuer),
        bundle = yaml_str(&opts.rootcertbundle.to_string_lossy()),
    )
}

/// The config of a registry without auth, listening on `addr`, storing in `storage`.
fn open_registry_config_yaml(addr: &str, storage: &Path) -> String {
    format!(
        r#"version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {addr}
  secret: driftless-test-registry-secret
health:
  storagedriver:
    enabled: false
"#,
        storage = yaml_str(&storage.to_string_lossy()),
        addr = yaml_str(addr),
    )
}

/// A YAML double-quoted scalar; JSON string syntax is valid YAML.
fn yaml_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn free_port() -> anyhow::Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port for the registry")?;
    Ok(listener.local_addr()?.port())
}

/// The HTTP status of `GET /v2/`, if the registry answers.
///
/// Plain TCP rather than an HTTP client: tests call `start` from inside async runtimes,
/// where a blocking client panics, and from plain threads, where an async one needs a runtime.
fn probe_v2(addr: &str) -> Option<u16> {
    let socket = addr.parse().ok()?;
    let mut stream = TcpStream::connect_timeout(&socket, PROBE_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT)).ok()?;
    let request = format!("GET /v2/ HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    // "HTTP/1.1 401 Unauthorized"
    let line = std::str::from_utf8(&head[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn read_log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_quotes_every_value_and_wires_token_auth() {
        let opts = RegistryOptions {
            rootcertbundle: PathBuf::from("/tmp/a b/bundle.pem"),
            realm: "http://127.0.0.1:1/token".into(),
            service: "svc: x".into(),
            issuer: "iss".into(),
        };
        let yaml = registry_config_yaml(&opts, "127.0.0.1:5000", Path::new("/tmp/s"));
        assert!(yaml.contains("addr: \"127.0.0.1:5000\""), "{yaml}");
        assert!(yaml.contains("rootdirectory: \"/tmp/s\""), "{yaml}");
        assert!(yaml.contains("service: \"svc: x\""), "{yaml}");
        assert!(
            yaml.contains("rootcertbundle: \"/tmp/a b/bundle.pem\""),
            "{yaml}"
        );
        assert!(
            yaml.contains("realm: \"http://127.0.0.1:1/token\""),
            "{yaml}"
        );
    }
}
