//! `driftless-vendor channel`: create the channels of an app.

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
}

/// Runs a `channel` action.
pub async fn run(args: ChannelArgs) -> Result<()> {
    let ChannelAction::Create { app, name } = args.action;
    args.remote.client()?.create_channel(&app, &name).await?;
    eprintln!("created channel {app}/{name}");
    Ok(())
}
