//! `driftless-vendor`: the control plane (`serve`) and the commands vendor CI and
//! operators run against it.

mod datadir;
mod env;
mod init;
mod keys;
mod publish;
mod push;
mod serve;
mod signer;

use anyhow::Result;
use clap::{Parser, Subcommand};
use driftless_client::VendorClient;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::datadir::DataDir;

/// Driftless for vendors: run the control plane, publish and promote releases,
/// manage customers, licenses and the fleet.
#[derive(Parser)]
#[command(name = "driftless-vendor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Remote {
    /// The control plane's URL.
    #[arg(long, env = env::SERVER, default_value = "http://127.0.0.1:8080", global = true)]
    server: String,
    /// The operator token `init` printed.
    #[arg(long, env = env::TOKEN, hide_env_values = true, global = true)]
    token: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: database, keys, root of trust, operator token.
    Init {
        /// Where the control plane keeps its state.
        #[arg(long, env = env::DATA_DIR)]
        data_dir: PathBuf,
        /// Address `serve` listens on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// URL installs and the registry reach the control plane at.
        #[arg(long)]
        public_url: Option<String>,
        /// `host:port` of the registry installs pull from.
        #[arg(long, default_value = "127.0.0.1:5000")]
        registry_host: String,
        /// The registry speaks plain HTTP (loopback registries only).
        #[arg(long)]
        registry_insecure: bool,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the control plane.
    Serve {
        /// The data directory `init` created.
        #[arg(long, env = env::DATA_DIR)]
        data_dir: PathBuf,
        /// Override the listen address from the settings.
        #[arg(long)]
        listen: Option<String>,
    },
    /// The root of trust and the keys of every role.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        /// The data directory `init` created.
        #[arg(long, env = env::DATA_DIR, global = true)]
        data_dir: Option<PathBuf>,
    },
    /// Print the `auth: token:` block for the registry's config.
    RegistryConfig {
        /// The data directory `init` created.
        #[arg(long, env = env::DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Apps.
    App {
        #[command(subcommand)]
        action: AppAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// Channels of an app.
    Channel {
        #[command(subcommand)]
        action: ChannelAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// Customers.
    Customer {
        #[command(subcommand)]
        action: CustomerAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// Licenses.
    License {
        #[command(subcommand)]
        action: LicenseAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// Pin, push, sign and upload a release of a compose app.
    Publish {
        /// App name.
        #[arg(long)]
        app: String,
        /// Semver version of the release.
        #[arg(long = "version")]
        release_version: String,
        /// The compose file.
        #[arg(long)]
        compose: PathBuf,
        /// Release notes (Markdown).
        #[arg(long)]
        notes: Option<PathBuf>,
        /// The release signing key (PKCS#8 PEM); or set DRIFTLESS_RELEASE_KEY.
        #[arg(long, env = env::RELEASE_KEY_FILE)]
        release_key: Option<PathBuf>,
        /// Sign with an external command instead (a hardware key, a KMS): it reads the
        /// bytes to sign on stdin and prints the Ed25519 signature (raw, base64 or hex).
        #[arg(long, conflicts_with = "release_key")]
        sign_with: Option<String>,
        /// Oldest customer CLI that may apply this release.
        #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
        min_cli_version: String,
        /// Seconds a host waits for the release to be healthy.
        #[arg(long, default_value_t = 120)]
        health_timeout: u64,
        /// A customer CLI build to offer with the release, as PLATFORM=PATH
        /// (e.g. linux/amd64=target/release/driftless); repeatable. Its version is
        /// what `PATH --version` prints.
        #[arg(long = "cli-binary", value_name = "PLATFORM=PATH", value_parser = parse_cli_binary)]
        cli_binaries: Vec<(String, PathBuf)>,
        /// The --cli-binary builds' version, instead of running them (for tests).
        #[arg(long, hide = true)]
        cli_version: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Point a channel at a release.
    Promote {
        /// App name.
        #[arg(long)]
        app: String,
        /// The release's version.
        #[arg(long = "version")]
        release_version: String,
        /// The channel.
        #[arg(long)]
        channel: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List an app's releases.
    Releases {
        /// App name.
        #[arg(long)]
        app: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Staged rollouts of a release to a channel.
    Rollout {
        #[command(subcommand)]
        action: RolloutAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// Deprecate, yank or restore a release.
    Release {
        #[command(subcommand)]
        action: ReleaseAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// Customer installs.
    Install {
        #[command(subcommand)]
        action: InstallAction,
        #[command(flatten)]
        remote: Remote,
    },
    /// The fleet: every install with its desired and reported state.
    Fleet {
        /// Only this app.
        #[arg(long)]
        app: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// The newest audit log entries.
    Audit {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Show every role's key ids, threshold and the root's expiry.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace the root keys: root N+1 signed by a threshold of N's keys and its own.
    RotateRoot,
    /// Replace one role's key, trusting the previous one for one more root version.
    Rotate {
        /// The role to rotate.
        #[arg(long, value_enum)]
        role: keys::RotatedRole,
    },
}

#[derive(Subcommand)]
enum AppAction {
    /// Create an app (its name is also its registry namespace).
    Create { name: String },
    /// List apps and their channels.
    List,
}

#[derive(Subcommand)]
enum ChannelAction {
    /// Create a channel.
    Create {
        /// App name.
        #[arg(long)]
        app: String,
        /// Channel name, e.g. `stable`.
        name: String,
    },
}

#[derive(Subcommand)]
enum CustomerAction {
    /// Create a customer.
    Create { name: String },
    /// List customers.
    List,
}

#[derive(Subcommand)]
enum LicenseAction {
    /// Create a license and print its key (shown once).
    Create {
        /// Customer name.
        #[arg(long)]
        customer: String,
        /// App name.
        #[arg(long)]
        app: String,
        /// Channel new installs follow.
        #[arg(long)]
        channel: String,
    },
    /// List licenses.
    List,
    /// Revoke a license and every install of it.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum InstallAction {
    /// Revoke one install.
    Revoke { id: String },
    /// Put an install on another channel of its app.
    Move {
        /// The install's id.
        id: String,
        /// The channel it follows from now on.
        #[arg(long)]
        channel: String,
    },
}

#[derive(clap::Args, Clone)]
struct ChannelRef {
    /// App name.
    #[arg(long)]
    app: String,
    /// Channel name.
    #[arg(long)]
    channel: String,
}

#[derive(Subcommand)]
enum RolloutAction {
    /// Roll a release out to a channel in cumulative waves.
    Start {
        #[command(flatten)]
        target: ChannelRef,
        /// The release's version.
        #[arg(long = "version")]
        release_version: String,
        /// Cumulative waves, e.g. "1%,10%,50%,100%".
        #[arg(long, default_value = "100%")]
        waves: String,
        /// Time between waves, e.g. 30s, 10m, 1h; without it waves open on `advance`.
        #[arg(long)]
        interval: Option<String>,
        /// Halt only once at least this many installs failed.
        #[arg(long, default_value_t = 3)]
        halt_min_failures: u32,
        /// Halt once more than this percentage of installs that tried it failed.
        #[arg(long, default_value_t = 20)]
        halt_failure_pct: u32,
    },
    /// Stop opening waves.
    Pause(ChannelRef),
    /// Open waves again (also after an automatic halt).
    Resume(ChannelRef),
    /// Open the next wave now.
    Advance(ChannelRef),
    /// Point the channel back at the previous release; its hosts converge back.
    Abort(ChannelRef),
    /// List an app's rollouts.
    List {
        /// App name.
        #[arg(long)]
        app: String,
    },
}

#[derive(Subcommand)]
enum ReleaseAction {
    /// Installs on it are warned; it is still assigned.
    Deprecate(ReleaseRefArgs),
    /// Never assigned again; channels on it move back to their previous release.
    Yank(ReleaseRefArgs),
    /// Make a deprecated or yanked release active again.
    Restore(ReleaseRefArgs),
}

#[derive(clap::Args, Clone)]
struct ReleaseRefArgs {
    /// App name.
    #[arg(long)]
    app: String,
    /// The release's version.
    #[arg(long = "version")]
    release_version: String,
}

/// Parses "1%,10%,50%,100%" into percentages.
fn parse_waves(text: &str) -> Result<Vec<u32>> {
    text.split(',')
        .map(|w| {
            w.trim().trim_end_matches('%').parse::<u32>().map_err(|_| {
                driftless_exit::InvalidInput(format!(
                    "wave `{w}` is not a percentage; write waves like \"1%,10%,50%,100%\""
                ))
                .into()
            })
        })
        .collect()
}

/// Parses "90", "30s", "10m", "1h", "1d" into seconds.
fn parse_duration(text: &str) -> Result<i64> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num.parse().map_err(|_| {
        driftless_exit::InvalidInput(format!(
            "`{text}` is not a duration; write e.g. 30s, 10m or 1h"
        ))
    })?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => driftless_exit::refuse!("`{text}` is not a duration; write e.g. 30s, 10m or 1h"),
    };
    Ok(n * mult)
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `PLATFORM=PATH` of `publish --cli-binary`.
fn parse_cli_binary(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((platform, path)) if !platform.is_empty() && !path.is_empty() => {
            Ok((platform.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!(
            "`{text}` is not PLATFORM=PATH (e.g. linux/amd64=target/release/driftless)"
        )),
    }
}

fn client(remote: &Remote) -> Result<VendorClient> {
    let token = remote.token.as_deref().ok_or_else(|| {
        driftless_exit::InvalidInput(format!(
            "no operator token; pass --token or set {}",
            env::TOKEN
        ))
    })?;
    Ok(VendorClient::new(&remote.server, token)?)
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn release_key(path: Option<&std::path::Path>) -> Result<ed25519_dalek::SigningKey> {
    if let Ok(pem) = std::env::var(env::RELEASE_KEY) {
        return datadir::parse_signing_key(&pem, env::RELEASE_KEY);
    }
    let path = path.ok_or_else(|| {
        driftless_exit::InvalidInput(format!(
            "no release key; pass --release-key FILE or set {} or {}",
            env::RELEASE_KEY_FILE,
            env::RELEASE_KEY
        ))
    })?;
    datadir::read_signing_key(path)
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init {
            data_dir,
            listen,
            public_url,
            registry_host,
            registry_insecure,
            json,
        } => {
            let public_url = public_url.unwrap_or_else(|| format!("http://{listen}"));
            let dir = DataDir::new(&data_dir);
            let opts = init::InitOptions {
                listen,
                public_url,
                registry_host,
                registry_insecure,
            };
            let out = init::init(&dir, &opts, now()).await?;
            if json {
                print_json(
                    &serde_json::json!({ "operator_token": out.operator_token, "root_fingerprint": out.root_fingerprint, "data_dir": data_dir }),
                )?;
            } else {
                println!("operator token: {}", out.operator_token);
                println!("root fingerprint: {}", out.root_fingerprint);
                eprintln!(
                    "initialised {}; the operator token is shown only now.",
                    data_dir.display()
                );
                eprintln!("move {} off this machine: it holds the root keys and the release key, which `serve` never needs.", dir.offline().display());
            }
        }
        Command::Serve { data_dir, listen } => {
            init_logging();
            serve::serve(&DataDir::new(&data_dir), listen.as_deref()).await?;
        }
        Command::Keys { action, data_dir } => {
            let data_dir = data_dir.ok_or_else(|| {
                driftless_exit::InvalidInput(format!("pass --data-dir or set {}", env::DATA_DIR))
            })?;
            let dir = DataDir::new(&data_dir);
            match action {
                KeysAction::List { json } => {
                    let l = keys::list(&dir)?;
                    if json {
                        print_json(&l)?;
                    } else {
                        println!(
                            "root version {} (expires at {})",
                            l.root_version, l.root_expires
                        );
                        for (role, k) in &l.roles {
                            let ids: Vec<&str> =
                                k.keyids.iter().map(|i| &i.0[..16.min(i.0.len())]).collect();
                            println!(
                                "{role:<10} threshold {} of {}: {}",
                                k.threshold,
                                k.keyids.len(),
                                ids.join(", ")
                            );
                        }
                    }
                }
                KeysAction::RotateRoot => {
                    let v = keys::rotate_root(&dir, now())?;
                    println!("{v}");
                    eprintln!("wrote root version {v}; reload serve (SIGHUP) to publish it, then move the new root keys in {} offline", dir.offline().display());
                }
                KeysAction::Rotate { role } => {
                    let v = keys::rotate_role(&dir, role, now())?;
                    println!("{v}");
                    eprintln!("wrote root version {v} trusting the new {role:?} key and the previous one; reload serve (SIGHUP) to use it");
                }
            }
        }
        Command::RegistryConfig { data_dir } => {
            let dir = DataDir::new(&data_dir);
            print!("{}", init::registry_config(&dir, &dir.load_settings()?));
        }
        Command::App { action, remote } => {
            let c = client(&remote)?;
            match action {
                AppAction::Create { name } => {
                    c.create_app(&name).await?;
                    eprintln!("created app {name}");
                }
                AppAction::List => print_json(&c.list_apps().await?)?,
            }
        }
        Command::Channel {
            action: ChannelAction::Create { app, name },
            remote,
        } => {
            client(&remote)?.create_channel(&app, &name).await?;
            eprintln!("created channel {app}/{name}");
        }
        Command::Customer { action, remote } => {
            let c = client(&remote)?;
            match action {
                CustomerAction::Create { name } => {
                    c.create_customer(&name).await?;
                    eprintln!("created customer {name}");
                }
                CustomerAction::List => print_json(&c.list_customers().await?)?,
            }
        }
        Command::License { action, remote } => {
            let c = client(&remote)?;
            match action {
                LicenseAction::Create {
                    customer,
                    app,
                    channel,
                } => {
                    let l = c.create_license(&customer, &app, &channel).await?;
                    println!("{}", l.key.unwrap_or_default());
                    eprintln!("created license {} for {customer} ({app}/{channel}); the key is shown only now", l.id);
                }
                LicenseAction::List => print_json(&c.list_licenses().await?)?,
                LicenseAction::Revoke { id } => {
                    c.revoke_license(&id).await?;
                    eprintln!("revoked license {id} and its installs");
                }
            }
        }
        Command::Publish {
            app,
            release_version,
            compose,
            notes,
            release_key: key_path,
            sign_with,
            min_cli_version,
            health_timeout,
            cli_binaries,
            cli_version,
            remote,
        } => {
            let signer = match sign_with {
                Some(cmd) => signer::ReleaseSigner::Command(cmd),
                None => signer::ReleaseSigner::Key(release_key(key_path.as_deref())?),
            };
            let c = client(&remote)?;
            let opts = publish::PublishOptions {
                app: &app,
                version: &release_version,
                compose: &compose,
                notes: notes.as_deref(),
                signer: &signer,
                min_cli_version: &min_cli_version,
                health_timeout_s: health_timeout,
                cli_binaries: &cli_binaries,
                cli_version: cli_version.as_deref(),
            };
            let p = publish::publish(&c, &opts, now()).await?;
            println!("{}", p.digest);
            eprintln!(
                "published {app} {} (release counter {}, {} images, {} CLI builds)",
                p.release.version,
                p.release.release_counter,
                p.release.images.len(),
                p.release.cli.len()
            );
        }
        Command::Promote {
            app,
            release_version,
            channel,
            remote,
        } => {
            client(&remote)?
                .promote(&app, &channel, &release_version)
                .await?;
            eprintln!("channel {app}/{channel} now points at {release_version}");
        }
        Command::Releases { app, json, remote } => {
            let list = client(&remote)?.list_releases(&app).await?;
            if json {
                print_json(&list)?;
            } else {
                for r in list {
                    println!("{}\t{}\t{}", r.version, r.release_counter, r.digest);
                }
            }
        }
        Command::Install { action, remote } => match action {
            InstallAction::Revoke { id } => {
                client(&remote)?.revoke_install(&id).await?;
                eprintln!("revoked install {id}");
            }
            InstallAction::Move { id, channel } => {
                client(&remote)?.move_install(&id, &channel).await?;
                eprintln!("install {id} now follows {channel}");
            }
        },
        Command::Rollout { action, remote } => rollout(&client(&remote)?, action).await?,
        Command::Release { action, remote } => {
            let (args, state) = match action {
                ReleaseAction::Deprecate(a) => (a, "deprecated"),
                ReleaseAction::Yank(a) => (a, "yanked"),
                ReleaseAction::Restore(a) => (a, "active"),
            };
            client(&remote)?
                .set_release_state(&args.app, &args.release_version, state)
                .await?;
            eprintln!(
                "release {} {} is now {state}",
                args.app, args.release_version
            );
        }
        Command::Fleet { app, json, remote } => {
            let list = client(&remote)?.list_installs(app.as_deref()).await?;
            if json {
                print_json(&list)?;
            } else {
                println!(
                    "{:<38} {:<16} {:<10} {:<10} {:<10} STATUS",
                    "INSTALL", "CUSTOMER", "CHANNEL", "DESIRED", "CURRENT"
                );
                for i in list {
                    println!(
                        "{:<38} {:<16} {:<10} {:<10} {:<10} {}",
                        i.id,
                        i.customer,
                        i.channel,
                        i.desired_version.unwrap_or_else(|| "-".into()),
                        i.current_version.unwrap_or_else(|| "-".into()),
                        i.status
                    );
                }
            }
        }
        Command::Audit { limit, remote } => print_json(&client(&remote)?.audit(limit).await?)?,
    }
    Ok(())
}

async fn rollout(c: &VendorClient, action: RolloutAction) -> Result<()> {
    let (target, verb) = match action {
        RolloutAction::Start {
            target,
            release_version,
            waves,
            interval,
            halt_min_failures,
            halt_failure_pct,
        } => {
            let req = driftless_wire::api::StartRollout {
                version: release_version,
                waves: parse_waves(&waves)?,
                interval_s: interval.as_deref().map(parse_duration).transpose()?,
                min_failures: halt_min_failures,
                max_failure_pct: halt_failure_pct,
            };
            let r = c.start_rollout(&target.app, &target.channel, &req).await?;
            print_json(&r)?;
            eprintln!(
                "rolling {} out to {}/{} in waves {:?}",
                r.version, r.app, r.channel, r.waves
            );
            return Ok(());
        }
        RolloutAction::List { app } => return print_json(&c.list_rollouts(&app).await?),
        RolloutAction::Pause(t) => (t, "pause"),
        RolloutAction::Resume(t) => (t, "resume"),
        RolloutAction::Advance(t) => (t, "advance"),
        RolloutAction::Abort(t) => (t, "abort"),
    };
    let r = c.rollout_action(&target.app, &target.channel, verb).await?;
    print_json(&r)?;
    eprintln!(
        "rollout of {} on {}/{}: {} (wave {} of {})",
        r.version,
        r.app,
        r.channel,
        r.state,
        r.wave_index + 1,
        r.waves.len()
    );
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(env::LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    driftless_exit::run_async(run(Cli::parse()))
}
