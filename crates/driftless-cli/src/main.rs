//! `driftless`: the thin CLI and agent on a customer host. It checks in, verifies what
//! it is sent, pulls exactly the assigned images, runs them with `docker compose`, and
//! reports. No business logic lives here.
//!
//! This file only parses the command line and hands each command to its module, which
//! owns its arguments and a `run_command` entry point.

mod agent;
mod apply;
mod approve;
mod audit_witness;
mod bundle;
mod bundle_push;
mod checkin_session;
mod config_cmd;
mod config_prompt;
mod drift;
mod env;
mod files;
mod host;
mod install;
mod journal;
mod logging;
mod migrate;
mod mode_switch;
mod policy;
mod preflight;
mod probe;
mod progress;
mod pull_token;
mod reason;
mod receipt;
mod registry_login;
mod request_clock;
mod rollback;
mod run_trace;
mod secret_input;
mod self_update;
mod state;
mod status;
mod support_bundle;
mod sync;
mod uninstall;
mod window;

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
    /// How log lines on stderr are written (the agent's, and requests under DRIFTLESS_LOG=debug).
    #[arg(long, env = env::LOG_FORMAT, global = true, value_enum, default_value_t)]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register this host with a license key.
    Install(install::InstallArgs),
    /// Check in once and converge on the assigned release.
    ///
    /// Images are pulled with the short-lived registry token the check-in gives; a pull
    /// that outlives it renews it (a signed request to the control plane) and carries
    /// on with what is already pulled, so a slow link still converges in one sync.
    ///
    /// A release that declares run-once jobs and data volumes (x-driftless.jobs,
    /// x-driftless.data_volumes) is migrated on the way: the app is stopped, its data
    /// volumes are snapshotted into the state dir, the pre_upgrade jobs run, the
    /// release starts and must be healthy, then the post_upgrade jobs run. If a job or
    /// the health gate fails, the volumes are restored and the previous release comes
    /// back (exit 18 for a failed job, 10 for a failed health gate).
    ///
    /// A host found converged (nothing assigned changed, nothing drifted) is checked
    /// through the Docker Engine API alone: no process is started and no compose tool is
    /// needed. The compose tool (`docker compose`, else `docker-compose`) runs only to
    /// apply a change or repair drift.
    Sync(sync::SyncArgs),
    /// Show what this host runs and why.
    ///
    /// Includes the last run-once job of a release (migration): its service, phase,
    /// release, exit code and last log lines.
    Status(status::StatusArgs),
    /// Read or change the values the release declares (right after `install`, before
    /// anything is pulled; `config init` asks for each).
    Config(config_cmd::ConfigArgs),
    /// Check this host against what the assigned release needs (cores, memory, disk,
    /// engine and compose versions, free ports, reachable endpoints).
    ///
    /// Prints CHECK, EXPECTED, FOUND and RESULT (pass, warn or fail) per check; exits 16
    /// when one fails. `sync` runs the same checks on a new release before pulling it.
    Preflight(preflight::PreflightArgs),
    /// Choose when a new release is applied: auto, approve, or inside weekly windows.
    Policy(policy::PolicyArgs),
    /// Approve the release that waits (under `policy set approve`) and apply it now.
    Approve(approve::ApproveArgs),
    /// Print a short-lived credential for `docker login` to the vendor's registry.
    RegistryLogin,
    /// Go back to the release this host ran before the current one.
    ///
    /// The assigned release is held back until the vendor assigns another. Never below
    /// the rollback floor; nothing is pulled.
    Rollback,
    /// Stop and remove the app, tell the control plane, remove the state directory.
    ///
    /// The app's volumes go too unless --keep-data. Asks first; off a terminal, only
    /// --yes goes ahead. Without the control plane, nothing is removed unless --force.
    Uninstall(uninstall::UninstallArgs),
    /// Collect a support bundle (status, journal, containers, logs, host facts, release
    /// documents and the config, every secret redacted) into one tar.gz.
    ///
    /// With --upload, send it to the control plane (a signed request), where the vendor
    /// lists, downloads and analyzes it.
    SupportBundle(support_bundle::SupportBundleArgs),
    /// Replace this binary with the CLI build the newest verified release offers.
    SelfUpdate(self_update::SelfUpdateArgs),
    /// Sync on the control plane's schedule until stopped (run by systemd).
    Agent(agent::AgentArgs),
    /// Shell completions and man pages (see the README for installing them).
    #[command(hide = true)]
    Generate(driftless_generate::GenerateArgs),
}

async fn run(cli: Cli) -> Result<()> {
    logging::init(cli.log_format);
    let dir = StateDir::new(&cli.state_dir.unwrap_or_else(host::default_state_dir));
    match cli.command {
        Command::Install(args) => install::run_command(&dir, args).await,
        Command::Sync(args) => sync::run_command(&dir, args).await,
        Command::Status(args) => status::run_command(&dir, args).await,
        Command::Config(args) => config_cmd::run_command(&dir, args),
        Command::Preflight(args) => preflight::run_command(&dir, args).await,
        Command::Policy(args) => policy::run_command(&dir, args),
        Command::Approve(args) => approve::run_command(&dir, args).await,
        Command::RegistryLogin => registry_login::run_command(&dir).await,
        Command::Rollback => rollback::run_command(&dir).await,
        Command::Uninstall(args) => uninstall::run_command(&dir, args).await,
        Command::SupportBundle(args) => support_bundle::run_command(&dir, args).await,
        Command::SelfUpdate(args) => self_update::run_command(&dir, args).await,
        Command::Agent(args) => agent::run_command(&dir, args).await,
        Command::Generate(args) => driftless_generate::run(args, Cli::command()),
    }
}

fn main() -> ExitCode {
    // One thing at a time: a runtime on this thread, without worker threads and their memory.
    driftless_exit::run_async_current_thread(run(Cli::parse()))
}
