//! `driftless install`: pin the vendor's root, generate this host's key, register it
//! with the license key, and write the owned `config.toml`; then check in once to
//! receive and verify the assigned release's documents (nothing is pulled or started),
//! so its values can be set before the first start (`--values`, `--set`, `config`).

use anyhow::Result;
use driftless_exit::{code, Coded, HintExt as _};
use driftless_trust::{verify_root_v1, TrustState};
use driftless_wire::checkin::RegisterRequest;
use driftless_wire::keys::generate_signing_key;
use driftless_wire::PublicKey;
use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use crate::state::{Config, StateDir};
use crate::{env, secret_input};
use crate::{now, platform, CLI_VERSION};

/// Options of `install`.
pub struct InstallOptions {
    /// The control plane's URL.
    pub server: String,
    /// The license key.
    pub license: String,
    /// The root fingerprint the vendor published.
    pub root_fingerprint: String,
    /// The compose project name (defaults to the app).
    pub project: Option<String>,
}

/// Arguments of `driftless install`.
#[derive(clap::Args)]
pub struct InstallArgs {
    /// The vendor's control plane URL.
    #[arg(long, required_unless_present = "bundle", conflicts_with = "bundle")]
    server: Option<String>,
    /// Install air-gapped from this bundle your vendor gave you: nothing is sent to
    /// the vendor; later releases come as bundles too (`driftless sync --bundle FILE`).
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
    /// The license key your vendor gave you; `-` reads it from standard input. Prefer
    /// `-`, --license-file or DRIFTLESS_LICENSE: a key given here is visible in `ps`.
    #[arg(long, value_name = "KEY|-")]
    license: Option<String>,
    /// Read the license key from FILE.
    #[arg(long, value_name = "FILE")]
    license_file: Option<PathBuf>,
    /// The root fingerprint your vendor published (sha256:…).
    #[arg(long)]
    root_fingerprint: String,
    /// Compose project name [default: the app's name].
    #[arg(long)]
    project: Option<String>,
    /// Set the release's values from a TOML file (`NAME = "value"` per line); `-` reads
    /// the TOML piped to standard input. The way to give secrets at install.
    #[arg(long, value_name = "FILE|-")]
    values: Option<PathBuf>,
    /// Set one value (NAME=VALUE; repeatable). A secret given here is visible in `ps`:
    /// put it in the --values file instead.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
}

/// Runs `driftless install`: prints the new install's id on stdout.
pub async fn run_command(dir: &StateDir, args: InstallArgs) -> Result<()> {
    if args.license.as_deref() == Some("-") && args.values.as_deref() == Some(Path::new("-")) {
        return Err(Coded(
            code::USAGE,
            "--license - and --values - cannot both read standard input".into(),
        ))
        .hint("give the license with --license-file or DRIFTLESS_LICENSE");
    }
    let license = license_key(args.license.as_deref(), args.license_file.as_deref())?;
    // Read before registering, so a file that cannot be read or parsed changes nothing.
    let file_values = match &args.values {
        Some(path) => values_file(path)?,
        None => BTreeMap::new(),
    };
    let opts = InstallOptions {
        server: args.server.unwrap_or_default(),
        license,
        root_fingerprint: args.root_fingerprint,
        project: args.project,
    };
    let (mut c, version) = match &args.bundle {
        Some(file) => install_from_bundle(dir, &opts, file)?,
        None => {
            let c = install(dir, &opts).await?;
            let version = match receive_release(dir).await {
                Ok(v) => v,
                Err(e) => {
                    eprintln!(
                        "warning: could not receive the assigned release yet: {}",
                        driftless_exit::one_line(&e)
                    );
                    None
                }
            };
            (c, version)
        }
    };
    println!("{}", c.install_id);
    let installed = format!(
        "installed {} ({} channel) in {}",
        c.app,
        c.channel,
        dir.root().display()
    );
    let sync = match &args.bundle {
        Some(file) => format!("driftless sync --bundle {}", file.display()),
        None => "driftless sync".to_string(),
    };
    if file_values.is_empty() && args.set.is_empty() {
        match version {
            Some(v) => eprintln!("{installed}; release {v} is assigned: set its values with `driftless config init`, check the host with `driftless preflight`, then run `{sync}` to bring it up"),
            None => eprintln!("{installed}; run `{sync}` to bring it up"),
        }
        return Ok(());
    }
    c.values = initial_values(dir, &c, file_values, args.set)
        .map_err(|e| e.context(format!("{installed}, but its values were not saved")))?;
    dir.save_config(&c)?;
    eprintln!("{installed} with {} value(s) set; check the host with `driftless preflight`, then run `{sync}` to bring it up", c.values.len());
    Ok(())
}

/// Checks in once to receive and verify the assigned release's documents; pulls,
/// starts and replaces nothing. Returns the assigned version, if the vendor assigned one.
async fn receive_release(dir: &StateDir) -> Result<Option<String>> {
    let _lock = dir.lock()?;
    let ctx = crate::sync::Ctx::open(dir, crate::progress::Progress::detect()).await?;
    let mut record = dir.load_sync();
    // `sync` updates the CLI when the release needs a newer one; `install` only says so.
    let assigned = crate::sync::check_in(&ctx, &mut record, false, false).await?;
    dir.save_sync(&record)?;
    Ok(assigned.map(|a| a.version))
}

/// The values of `--values FILE` and `--set`, checked against the received release's
/// schema (`--set` wins over the file).
fn initial_values(
    dir: &StateDir,
    config: &Config,
    file_values: BTreeMap<String, String>,
    set: Vec<String>,
) -> Result<BTreeMap<String, String>> {
    let schema = crate::config_cmd::schema(dir)?;
    crate::config_cmd::check_values(&schema, &file_values)?;
    let with_file = Config {
        values: file_values,
        ..config.clone()
    };
    if set.is_empty() {
        return Ok(with_file.values);
    }
    crate::config_cmd::set(&with_file, &schema, crate::config_cmd::SetInput::Pairs(set))
}

/// `NAME = value` lines of a TOML file: strings, integers and booleans, as text.
fn values_file(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = if path == Path::new("-") {
        if std::io::stdin().is_terminal() {
            driftless_exit::refuse!(
                hint = "pipe the file in (`--values - < values.toml`), or use `driftless config init` after install";
                "--values - reads TOML piped to standard input, which is a terminal"
            );
        }
        secret_input::from_stdin("the values")?
    } else {
        secret_input::from_file(path, "the values")?
    };
    let doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| {
            driftless_exit::InvalidInput(format!(
                "{} is not TOML: {}",
                path.display(),
                driftless_exit::one_line(&anyhow::Error::new(e))
            ))
        })
        .hint("write one `NAME = \"value\"` per line")?;
    let mut out = BTreeMap::new();
    for (name, item) in doc.iter() {
        let value = match item.as_value() {
            Some(toml_edit::Value::String(s)) => s.value().clone(),
            Some(toml_edit::Value::Integer(i)) => i.value().to_string(),
            Some(toml_edit::Value::Boolean(b)) => b.value().to_string(),
            _ => driftless_exit::refuse!(
                hint = "write one `NAME = \"value\"` per line, without tables";
                "`{name}` in {} is not a string, integer or boolean",
                path.display()
            ),
        };
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

/// The license key: from `--license` (`-`: standard input), `--license-file`, or
/// `DRIFTLESS_LICENSE`, in that order. A key given as an argument still works, with a
/// warning that others can read it.
pub(crate) fn license_key(arg: Option<&str>, file: Option<&Path>) -> Result<String> {
    let key = match (arg, file) {
        (Some(_), Some(_)) => {
            return Err(Coded(
                code::USAGE,
                "--license and --license-file both give the license key".into(),
            ))
            .hint("pass only one of them")
        }
        (Some("-"), None) => secret_input::from_stdin("license key")?,
        (Some(key), None) => {
            secret_input::warn_on_command_line(
                "a license key",
                "pass --license-file FILE or --license - (standard input), or set DRIFTLESS_LICENSE",
            );
            key.to_string()
        }
        (None, Some(path)) => secret_input::from_file(path, "the license key")?,
        (None, None) => std::env::var(env::LICENSE)
            .map_err(|_| Coded(code::USAGE, "no license key given".into()))
            .hint(
                "pass --license-file FILE or --license - (standard input), or set DRIFTLESS_LICENSE",
            )?,
    };
    let key = key.trim();
    if key.is_empty() {
        driftless_exit::refuse!(
            hint = "pass the key your vendor gave you";
            "the license key is empty"
        );
    }
    Ok(key.to_string())
}

/// Registers this host. Nothing is written unless every step succeeds.
pub async fn install(dir: &StateDir, opts: &InstallOptions) -> Result<Config> {
    refuse_existing_install(dir, opts)?;
    let client = crate::run_trace::client(&opts.server)?;
    let root_env = client.root(1).await?;
    let root = verify_root_v1(&root_env, opts.root_fingerprint.trim(), now())?;
    let key = generate_signing_key();
    let hostname = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let req = RegisterRequest {
        license_key: opts.license.trim().to_string(),
        public_key: PublicKey::from_signing_key(&key).public,
        hostname,
        platform: platform(),
        cli_version: CLI_VERSION.to_string(),
    };
    let reg = client.register(&req).await?;
    let project = opts
        .project
        .clone()
        .unwrap_or_else(|| reg.app.replace('.', "-"));
    let config = Config {
        server: opts.server.trim_end_matches('/').to_string(),
        install_id: reg.install_id,
        app: reg.app,
        channel: reg.channel,
        project,
        root_fingerprint: opts.root_fingerprint.trim().to_string(),
        values: BTreeMap::new(),
        policy: crate::policy::Policy::Auto,
    };
    dir.create()?;
    dir.save_key(&key)?;
    dir.save_root(1, &root_env)?;
    // Pinned to the app the license registered: any other app's documents are refused.
    dir.save_trust(&TrustState::new(root, &config.app))?;
    // config.toml last: its presence is what marks the directory as installed.
    dir.save_config(&config)?;
    Ok(config)
}

/// Installs an air-gapped host from a bundle: the bundle is verified in full (root
/// version 1 against the fingerprint, assignment for this license, release, every blob)
/// before anything is written. Returns the config and the release it carries.
fn install_from_bundle(
    dir: &StateDir,
    opts: &InstallOptions,
    file: &Path,
) -> Result<(Config, Option<String>)> {
    refuse_existing_install(dir, opts)?;
    let now = now();
    let (root_env, trust) = crate::bundle::anchor(file, opts.root_fingerprint.trim(), now)?;
    let install_id = driftless_wire::airgap::license_install_id_of_key(&opts.license);
    let checked = crate::bundle::check(&trust, &install_id, file, now, None)?;
    let a = &checked.verified.assignment;
    let config = Config {
        server: crate::bundle::AIRGAP_SERVER.to_string(),
        install_id,
        app: a.app.clone(),
        channel: a.channel.clone(),
        project: opts
            .project
            .clone()
            .unwrap_or_else(|| a.app.replace('.', "-")),
        root_fingerprint: opts.root_fingerprint.trim().to_string(),
        values: BTreeMap::new(),
        policy: crate::policy::Policy::Auto,
    };
    dir.create()?;
    dir.save_key(&generate_signing_key())?;
    dir.save_root(1, &root_env)?;
    dir.save_trust(&trust)?;
    let version = crate::bundle::persist(dir, &checked)?;
    let mut record = dir.load_sync();
    record.assigned_version = Some(version.clone());
    dir.save_sync(&record)?;
    dir.save_config(&config)?;
    Ok((config, Some(version)))
}

fn refuse_existing_install(dir: &StateDir, opts: &InstallOptions) -> Result<()> {
    if dir.is_installed() {
        driftless_exit::refuse!(
            hint = "use it with `driftless sync`, or pass another --state-dir";
            "{} already holds an install",
            dir.root().display()
        );
    }
    if let Some(p) = &opts.project {
        if !valid_project(p) {
            driftless_exit::refuse!(
                "compose project name `{p}` must be lowercase letters, digits, '-' or '_'"
            );
        }
    }
    Ok(())
}

fn valid_project(p: &str) -> bool {
    !p.is_empty()
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
