//! `driftless`: the thin CLI and agent on a customer host. It checks in, verifies what
//! it is sent, pulls exactly the assigned images, runs them with `docker compose`, and
//! reports. No business logic lives here.
//!
//! This file only parses the command line and hands each command to its module, which
//! owns its arguments and a `run_command` entry point.

mod agent;
mod apply;
mod config_cmd;
mod drift;
mod env;
mod files;
mod host;
mod install;
mod journal;
mod probe;
mod progress;
mod reason;
mod registry_login;
mod request_clock;
mod secret_input;
mod self_update;
mod state;
mod status;
mod sync;

use anyhow::Result;
use clap::{CommandFactory as _, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

pub use crate::host::{now, platform, CLI_VERSION};
use crate::state::StateDir;

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
    Install(install::InstallArgs),
    /// Check in once and converge on the assigned release.
    ///
    /// A host found converged (nothing assigned changed, nothing drifted) is checked
    /// through the Docker Engine API alone: no process is started and no compose tool is
    /// needed. The compose tool (`docker compose`, else `docker-compose`) runs only to
    /// apply a change or repair drift.
    Sync,
    /// Show what this host runs and why.
    Status(status::StatusArgs),
    /// Read or change the values the release declares.
    Config(config_cmd::ConfigArgs),
    /// Print a short-lived credential for `docker login` to the vendor's registry.
    RegistryLogin,
    /// Replace this binary with the CLI build the newest verified release offers.
    SelfUpdate(self_update::SelfUpdateArgs),
    /// Sync on the control plane's schedule until stopped (run by systemd).
    Agent(agent::AgentArgs),
    /// Shell completions and man pages (see the README for installing them).
    #[command(hide = true)]
    Generate(driftless_generate::GenerateArgs),
}

async fn run(cli: Cli) -> Result<()> {
    let dir = StateDir::new(&cli.state_dir.unwrap_or_else(host::default_state_dir));
    match cli.command {
        Command::Install(args) => install::run_command(&dir, args).await,
        Command::Sync => sync::run_command(&dir).await,
        Command::Status(args) => status::run_command(&dir, args).await,
        Command::Config(args) => config_cmd::run_command(&dir, args),
        Command::RegistryLogin => registry_login::run_command(&dir).await,
        Command::SelfUpdate(args) => self_update::run_command(&dir, args).await,
        Command::Agent(args) => agent::run_command(&dir, args).await,
        Command::Generate(args) => driftless_generate::run(args, Cli::command()),
    }
}

fn main() -> ExitCode {
    // One thing at a time: a runtime on this thread, without worker threads and their memory.
    driftless_exit::run_async_current_thread(run(Cli::parse()))
}
