//! `driftless`: the thin CLI and agent on a customer host. It checks in, verifies what
//! it is sent, pulls exactly the assigned images, runs them with `docker compose`, and
//! reports. No business logic lives here.

mod agent;
mod apply;
mod config_cmd;
mod drift;
mod env;
mod files;
mod install;
mod journal;
mod probe;
mod progress;
mod reason;
mod self_update;
mod state;
mod status;
mod sync;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::state::StateDir;

/// This CLI's version: `DRIFTLESS_BUILD_VERSION` at build time (tests build a second,
/// newer CLI with it), else the crate's version.
pub const CLI_VERSION: &str = match option_env!("DRIFTLESS_BUILD_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

/// Driftless on a customer host: install, sync, status and config of one app.
#[derive(Parser)]
#[command(name = "driftless", version = CLI_VERSION, about)]
struct Cli {
    /// Where this install keeps its state [default: /var/lib/driftless as root, else $XDG_STATE_HOME/driftless].
    #[arg(long, env = env::STATE_DIR, global = true)]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register this host with a license key.
    Install {
        /// The vendor's control plane URL.
        #[arg(long)]
        server: String,
        /// The license key your vendor gave you.
        #[arg(long, hide_env_values = true)]
        license: String,
        /// The root fingerprint your vendor published (sha256:…).
        #[arg(long)]
        root_fingerprint: String,
        /// Compose project name [default: the app's name].
        #[arg(long)]
        project: Option<String>,
    },
    /// Check in once and converge on the assigned release.
    Sync,
    /// Show what this host runs and why.
    Status {
        /// Print JSON (stable schema).
        #[arg(long)]
        json: bool,
    },
    /// Read or change the values the release declares.
    Config {
        #[command(subcommand)]
        action: config_cmd::ConfigAction,
    },
    /// Print a short-lived credential for `docker login` to the vendor's registry.
    RegistryLogin,
    /// Replace this binary with the CLI build the newest verified release offers.
    SelfUpdate {
        /// Install it even when it is not newer than this CLI.
        #[arg(long)]
        force: bool,
    },
    /// Sync on the control plane's schedule until stopped (run by systemd).
    Agent {
        /// Wait a random time up to this many seconds before the first sync.
        #[arg(long, default_value_t = 30)]
        initial_jitter_secs: u64,
        /// Longest wait between attempts while the control plane is unreachable.
        #[arg(long, default_value_t = 600)]
        backoff_cap_secs: u64,
        /// Stop after this many syncs (for tests).
        #[arg(long, hide = true)]
        max_syncs: Option<u32>,
    },
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// This host's platform as `os/arch`.
pub fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

fn default_state_dir() -> PathBuf {
    let is_root = rustix::process::geteuid().is_root();
    if is_root {
        return PathBuf::from("/var/lib/driftless");
    }
    match std::env::var_os(env::XDG_STATE_HOME) {
        Some(x) => PathBuf::from(x).join("driftless"),
        None => PathBuf::from(std::env::var_os(env::HOME).unwrap_or_default())
            .join(".local/state/driftless"),
    }
}

async fn run(cli: Cli) -> Result<()> {
    let dir = StateDir::new(&cli.state_dir.unwrap_or_else(default_state_dir));
    match cli.command {
        Command::Install {
            server,
            license,
            root_fingerprint,
            project,
        } => {
            let opts = install::InstallOptions {
                server,
                license,
                root_fingerprint,
                project,
            };
            let c = install::install(&dir, &opts).await?;
            println!("{}", c.install_id);
            eprintln!(
                "installed {} ({} channel) in {}; run `driftless sync` to bring it up",
                c.app,
                c.channel,
                dir.root().display()
            );
        }
        Command::Sync => {
            let out = sync::sync(&dir, progress::Progress::detect()).await?;
            for r in &out.repaired {
                eprintln!("repaired: {r}");
            }
            match (&out.version, out.changed) {
                (Some(v), true) => eprintln!("converged on {v}"),
                (Some(v), false) => eprintln!("already converged on {v}; nothing changed"),
                (None, _) => eprintln!(
                    "{}",
                    out.message.unwrap_or_else(|| "nothing to run yet".into())
                ),
            }
        }
        Command::Status { json } => status::status(&dir, json).await?,
        Command::Config { action } => config_cmd::run(&dir, action)?,
        Command::RegistryLogin => config_cmd::registry_login(&dir)?,
        Command::SelfUpdate { force } => {
            let done = self_update::run(&dir, force).await?;
            eprintln!(
                "updated {} to driftless {}; the previous binary is kept as {}",
                done.exe.display(),
                done.version,
                done.prev.display()
            );
        }
        Command::Agent {
            initial_jitter_secs,
            backoff_cap_secs,
            max_syncs,
        } => {
            let opts = agent::AgentOptions {
                once_max: max_syncs,
                initial_jitter_max_s: initial_jitter_secs,
                backoff_cap_s: backoff_cap_secs,
            };
            agent::run(&dir, &opts).await?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    driftless_exit::run_async(run(Cli::parse()))
}
