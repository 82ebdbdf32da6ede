//! `driftless-vendor`: the control plane (`serve`) and the commands vendor CI and
//! operators run against it. This file only parses the command line and hands each
//! command to its module, which owns its arguments and its run function.

mod app;
mod audit;
mod audit_chain_check;
mod audit_verify;
mod bundle;
mod channel;
mod clock;
mod customer;
mod database;
mod datadir;
mod env;
mod exposure;
mod fleet;
mod gate;
mod image_packages;
mod init;
mod install;
mod keys;
mod license;
mod mount;
mod output;
mod principals;
mod promote;
mod publish;
mod push;
mod receipt;
mod registry_config;
mod release;
mod remote;
mod rollout;
mod sbom;
mod serve;
mod signer;
mod support_bundle;
mod trust_publish;
mod webhook;

use anyhow::Result;
use clap::{CommandFactory as _, Parser, Subcommand};
use std::process::ExitCode;

/// Driftless for vendors: run the control plane, publish and promote releases,
/// manage customers, licenses and the fleet.
#[derive(Parser)]
#[command(name = "driftless-vendor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: database, keys, root of trust, operator token.
    Init(init::InitArgs),
    /// Run the control plane.
    Serve(serve::ServeArgs),
    /// The root of trust and the keys of every role.
    Keys(keys::KeysArgs),
    /// Print the `auth: token:` block for the registry's config.
    RegistryConfig(registry_config::RegistryConfigArgs),
    /// Apps.
    App(app::AppArgs),
    /// Channels of an app.
    Channel(channel::ChannelArgs),
    /// Customers.
    Customer(customer::CustomerArgs),
    /// Licenses.
    License(license::LicenseArgs),
    /// Pin, push, sign and upload a release of a compose app.
    Publish(publish::PublishArgs),
    /// Point a channel at a release.
    Promote(promote::PromoteArgs),
    /// List an app's releases.
    Releases(release::ReleasesArgs),
    /// Staged rollouts of a release to a channel.
    Rollout(rollout::RolloutArgs),
    /// Deprecate, yank or restore a release.
    Release(release::ReleaseArgs),
    /// Customer installs.
    Install(install::InstallArgs),
    /// The fleet: every install with its desired and reported state.
    Fleet(fleet::FleetArgs),
    /// The audit log: its newest entries; verify, checkpoint, export.
    Audit(audit::AuditArgs),
    /// Customers and installs running a release that contains an advisory's package.
    Exposure(exposure::ExposureArgs),
    /// Status receipts air-gapped hosts wrote: import them into the fleet view.
    Receipt(receipt::ReceiptArgs),
    /// Air-gap bundles: one signed file per release for hosts with no route to the vendor.
    Bundle(bundle::BundleArgs),
    /// Support bundles installs uploaded: list, download, analyze.
    SupportBundle(support_bundle::SupportBundleArgs),
    /// Webhooks: URLs the control plane POSTs an app's events to, signed.
    Webhook(webhook::WebhookArgs),
    /// Users: people with a role (owner, release-manager, support) and an app scope.
    User(principals::UserArgs),
    /// API tokens: for CI (publish one app) or for a user.
    Token(principals::TokenArgs),
    /// Shell completions and man pages (see the README for installing them).
    #[command(hide = true)]
    Generate(driftless_generate::GenerateArgs),
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init(args) => init::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Keys(args) => keys::run(args),
        Command::RegistryConfig(args) => registry_config::run(args),
        Command::App(args) => app::run(args).await,
        Command::Channel(args) => channel::run(args).await,
        Command::Customer(args) => customer::run(args).await,
        Command::License(args) => license::run(args).await,
        Command::Publish(args) => publish::run(args).await,
        Command::Promote(args) => promote::run(args).await,
        Command::Releases(args) => release::list(args).await,
        Command::Rollout(args) => rollout::run(args).await,
        Command::Release(args) => release::set_state(args).await,
        Command::Install(args) => install::run(args).await,
        Command::Fleet(args) => fleet::run(args).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Exposure(args) => exposure::run(args).await,
        Command::Receipt(args) => receipt::run(args).await,
        Command::Bundle(args) => bundle::run(args).await,
        Command::SupportBundle(args) => support_bundle::run(args).await,
        Command::Webhook(args) => webhook::run(args).await,
        Command::User(args) => principals::run_user(args).await,
        Command::Token(args) => principals::run_token(args).await,
        Command::Generate(args) => driftless_generate::run(args, Cli::command()),
    }
}

fn main() -> ExitCode {
    driftless_exit::run_async(run(Cli::parse()))
}
