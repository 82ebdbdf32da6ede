//! `driftless-vendor channel`: create the channels of an app, and set their gates.

use anyhow::Result;
use clap::Subcommand;

use crate::remote::Remote;

/// Arguments of `channel`.
#[derive(clap::Args)]
pub struct ChannelArgs {
    #[command(subcommand)]
    action: ChannelAction,
    #[command(flatten)]
    remote: Remote,
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
    /// The channel's promotion gate: licences, advisory severity, SBOM required.
    Policy(crate::gate::PolicyArgs),
}

/// Runs a `channel` action.
pub async fn run(args: ChannelArgs) -> Result<()> {
    match args.action {
        ChannelAction::Create { app, name } => {
            args.remote.client()?.create_channel(&app, &name).await?;
            eprintln!("created channel {app}/{name}");
            Ok(())
        }
        ChannelAction::Policy(policy) => crate::gate::run(policy, &args.remote).await,
    }
}
