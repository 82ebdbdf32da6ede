//! `driftless support-bundle`: one `tar.gz` a vendor can read when something goes
//! wrong on this host: `status --json`, the sync journal and the last check-in's
//! metadata, the project's containers, each service's last log lines, engine and host
//! facts, the release documents, and the config with every secret redacted.
//!
//! Redaction is by construction: only files on an allow-list are read (never
//! `app.env`, `keys/`, `session.json`, `trust/` or `config.toml` itself), the config is
//! rebuilt value by value (a value not declared public by a release this host stored is
//! redacted), and every text that enters the bundle passes through one [`Redactor`]
//! that knows every secret this host holds and every credential shape.

mod host_facts;
mod redact;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use bollard::container::{LogOutput, LogsOptions};
use driftless_client::InstallClient;
use driftless_descriptor::ComposeFile;
use driftless_exit::{code, Coded, HintExt as _};
use driftless_runtime::{ContainerRuntime as _, DockerRuntime};
use futures_util::StreamExt as _;
use serde_json::{json, Value};

use crate::request_clock::next_request_ms;
use crate::state::{Config, StateDir};
use redact::{Redactor, REDACTED};

/// Log lines kept per service unless `--log-lines` says otherwise.
const DEFAULT_LOG_LINES: u32 = 1000;
/// The most log bytes kept per service (the newest).
const MAX_LOG_BYTES: usize = 1 << 20;
/// The files of `releases/<version>/` a bundle carries; `app.env` (the values, secrets
/// included) is not among them.
const RELEASE_FILES: &[&str] = &[
    "release.json",
    "assignment.json",
    "descriptor.yaml",
    "compose.yaml",
    "registry",
    "ran",
];

/// Arguments of `driftless support-bundle`.
#[derive(clap::Args)]
pub struct SupportBundleArgs {
    /// Where to write the bundle [default: driftless-support-<install>-<time>.tar.gz
    /// here; none with --upload].
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Send the bundle to the control plane, where the vendor can read it.
    #[arg(long)]
    upload: bool,
    /// The newest log lines kept per service (at most 1 MiB of them).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LOG_LINES)]
    log_lines: u32,
}

/// Runs `driftless support-bundle`.
pub async fn run_command(dir: &StateDir, args: SupportBundleArgs) -> Result<()> {
    let config = dir.load_config()?;
    let bytes = build(dir, &config, args.log_lines).await?;
    let output = match (&args.output, args.upload) {
        (Some(path), _) => Some(path.clone()),
        (None, false) => Some(PathBuf::from(format!(
            "driftless-support-{}-{}.tar.gz",
            config.install_id,
            crate::now()
        ))),
        (None, true) => None,
    };
    if let Some(path) = &output {
        write_private(path, &bytes)?;
        println!("{}", path.display());
        eprintln!("wrote the support bundle ({} bytes)", bytes.len());
    }
    if args.upload {
        upload(dir, &config, bytes).await?;
    }
    Ok(())
}

/// Writes `bytes` to a new file at `path`, readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write the support bundle to {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write the support bundle to {}", path.display()))
}

/// Sends the bundle, after checking it against the control plane's cap.
async fn upload(dir: &StateDir, config: &Config, bytes: Vec<u8>) -> Result<()> {
    let key = dir.load_key()?;
    let client = InstallClient::new(&config.server)?;
    let info = client.info().await?;
    let cap = info
        .max_support_bundle_bytes
        .unwrap_or(driftless_wire::api::DEFAULT_MAX_SUPPORT_BUNDLE_BYTES);
    if bytes.len() as u64 > cap {
        return Err(anyhow::Error::from(Coded(
            code::SUPPORT_BUNDLE_TOO_LARGE,
            format!(
                "the support bundle is {} bytes; the control plane at {} accepts at most {cap}; nothing was sent",
                bytes.len(),
                config.server
            ),
        )))
        .hint("keep fewer log lines (`--log-lines N`), or send the file written with `-o FILE` to the vendor another way");
    }
    let signed_at_ms = next_request_ms(dir)?;
    let stored = client
        .upload_support_bundle(&config.install_id, &key, bytes, signed_at_ms)
        .await
        .context("cannot upload the support bundle")?;
    println!("{}", stored.id);
    eprintln!(
        "uploaded support bundle {} ({} bytes); the vendor reads it with `driftless-vendor support-bundle get --install {} --bundle {}`",
        stored.id, stored.size, config.install_id, stored.id
    );
    Ok(())
}

/// The bundle's `tar.gz` bytes.
async fn build(dir: &StateDir, config: &Config, log_lines: u32) -> Result<Vec<u8>> {
    let public = public_values(dir);
    let redactor = Redactor::new(known_secrets(dir, config, &public));
    let mut bundle = Bundle::new(redactor);
    let runtime = DockerRuntime::connect().await.ok();

    let status = crate::status::report(dir).await?;
    bundle.add_json("status.json", &serde_json::to_value(&status)?)?;
    bundle.add_json("sync.json", &serde_json::to_value(dir.load_sync())?)?;
    if let Ok(journal) = fs::read(dir.journal_path()) {
        bundle.add_text("journal.json", &journal)?;
    }
    bundle.add_json("config.json", &config_view(config, &public))?;
    bundle.add_json(
        "host.json",
        &host_facts::collect(runtime.as_ref(), dir.root()).await,
    )?;
    match &runtime {
        Some(rt) => add_containers(&mut bundle, rt, &config.project, log_lines).await?,
        None => bundle.add_text(
            "compose-ps.json",
            b"{\"error\": \"the Docker Engine did not answer\"}",
        )?,
    }
    add_releases(&mut bundle, dir)?;
    bundle.finish(config, log_lines)
}

/// Config values a release this host stored declares, and none declares secret: the
/// only values copied as they are.
fn public_values(dir: &StateDir) -> BTreeSet<String> {
    let mut public = BTreeSet::new();
    let mut secret = BTreeSet::new();
    for version in dir.stored_versions() {
        let path = dir.release_dir(&version).join("descriptor.yaml");
        let Some(schema) = fs::read(&path)
            .ok()
            .and_then(|b| ComposeFile::parse(&b).ok())
            .and_then(|f| f.config_schema().ok())
        else {
            continue;
        };
        for var in schema {
            if var.secret {
                secret.insert(var.name);
            } else {
                public.insert(var.name);
            }
        }
    }
    &public - &secret
}

/// Every secret this host holds: the values not known public, the session key, and
/// the host key.
fn known_secrets(dir: &StateDir, config: &Config, public: &BTreeSet<String>) -> Vec<String> {
    let mut secrets: Vec<String> = config
        .values
        .iter()
        .filter(|(name, _)| !public.contains(*name))
        .map(|(_, value)| value.clone())
        .collect();
    if let Ok(text) = fs::read(dir.root().join("session.json")) {
        if let Ok(session) = serde_json::from_slice::<Value>(&text) {
            collect_strings(&session, &mut secrets);
        }
    }
    if let Ok(pem) = fs::read_to_string(dir.root().join("keys").join("install.pem")) {
        secrets.extend(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(String::from),
        );
    }
    secrets
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// The config, rebuilt field by field: a value is shown only when it is declared
/// public.
fn config_view(config: &Config, public: &BTreeSet<String>) -> Value {
    let values: BTreeMap<&str, &str> = config
        .values
        .iter()
        .map(|(name, value)| {
            let shown = if public.contains(name) {
                value.as_str()
            } else {
                REDACTED
            };
            (name.as_str(), shown)
        })
        .collect();
    json!({
        "server": config.server,
        "install_id": config.install_id,
        "app": config.app,
        "channel": config.channel,
        "project": config.project,
        "root_fingerprint": config.root_fingerprint,
        "policy": config.policy.mode(),
        "values": values,
    })
}

/// `compose-ps.json` and `logs/<service>.log` for each of the project's containers.
async fn add_containers(
    bundle: &mut Bundle,
    rt: &DockerRuntime,
    project: &str,
    log_lines: u32,
) -> Result<()> {
    let containers = match rt.project_containers(project).await {
        Ok(c) => c,
        Err(e) => {
            let error = json!({ "error": e.to_string() });
            return bundle.add_json("compose-ps.json", &error);
        }
    };
    let ps: Vec<Value> = containers
        .iter()
        .map(|c| {
            json!({
                "service": c.service, "name": c.name, "id": c.id, "image": c.image,
                "image_id": c.image_id, "state": c.state, "health": c.health,
                "restart_count": c.restart_count,
            })
        })
        .collect();
    bundle.add_json("compose-ps.json", &Value::Array(ps))?;
    for c in &containers {
        let log = log_tail(rt, &c.id, log_lines).await;
        bundle.add_text(&format!("logs/{}.log", c.name), &log)?;
    }
    Ok(())
}

/// The container's newest `lines` log lines, at most [`MAX_LOG_BYTES`] of them.
async fn log_tail(rt: &DockerRuntime, id: &str, lines: u32) -> Vec<u8> {
    let options = LogsOptions::<String> {
        stdout: true,
        stderr: true,
        timestamps: true,
        tail: lines.to_string(),
        ..Default::default()
    };
    let mut stream = rt.engine().logs(id, Some(options));
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message })
            | Ok(LogOutput::Console { message }) => out.extend_from_slice(&message),
            Ok(_) => {}
            Err(e) => {
                out.extend_from_slice(
                    format!("(could not read more of the log: {e})\n").as_bytes(),
                );
                break;
            }
        }
    }
    if out.len() > MAX_LOG_BYTES {
        out.drain(..out.len() - MAX_LOG_BYTES);
    }
    out
}

/// `releases/<version>/…`: the allow-listed files of every stored release.
fn add_releases(bundle: &mut Bundle, dir: &StateDir) -> Result<()> {
    let mut versions = dir.stored_versions();
    versions.sort();
    for version in versions {
        let release_dir = dir.release_dir(&version);
        for name in RELEASE_FILES {
            if let Ok(bytes) = fs::read(release_dir.join(name)) {
                bundle.add_text(&format!("releases/{version}/{name}"), &bytes)?;
            }
        }
    }
    Ok(())
}

/// The archive being written. Every file goes through the redactor: there is no way
/// to add bytes that it has not seen.
struct Bundle {
    redactor: Redactor,
    tar: tar::Builder<flate2::write::GzEncoder<Vec<u8>>>,
    files: Vec<String>,
}

impl Bundle {
    fn new(redactor: Redactor) -> Self {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        Bundle {
            redactor,
            tar: tar::Builder::new(gz),
            files: Vec::new(),
        }
    }

    fn add_json(&mut self, path: &str, value: &Value) -> Result<()> {
        self.add_text(path, &serde_json::to_vec_pretty(value)?)
    }

    fn add_text(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        let redacted = self.redactor.redact_bytes(bytes);
        let mut header = tar::Header::new_gnu();
        header.set_size(redacted.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(u64::try_from(crate::now()).unwrap_or(0));
        header.set_cksum();
        let name = format!("support-bundle/{path}");
        self.tar
            .append_data(&mut header, &name, redacted.as_slice())
            .with_context(|| format!("cannot add {path} to the support bundle"))?;
        self.files.push(path.to_string());
        Ok(())
    }

    /// Adds `manifest.json` (what is inside and how it was made) and closes the archive.
    fn finish(mut self, config: &Config, log_lines: u32) -> Result<Vec<u8>> {
        let manifest = json!({
            "schema": 1,
            "install_id": config.install_id,
            "app": config.app,
            "created_at": crate::now(),
            "cli_version": crate::CLI_VERSION,
            "log_lines_per_service": log_lines,
            "log_bytes_per_service": MAX_LOG_BYTES,
            "redacted": format!("secret and undeclared config values, the host and session keys, and credential shapes read {REDACTED}"),
            "files": self.files,
        });
        self.add_json("manifest.json", &manifest)?;
        let gz = self
            .tar
            .into_inner()
            .context("cannot finish the support bundle")?;
        gz.finish().context("cannot compress the support bundle")
    }
}
