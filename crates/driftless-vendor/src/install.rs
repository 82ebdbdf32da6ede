//! `driftless-vendor install`: revoke a customer install or move it to another channel.

use anyhow::Result;
use clap::Subcommand;

use crate::remote::Remote;

/// Arguments of `install`.
#[derive(clap::Args)]
pub struct InstallArgs {
    #[command(subcommand)]
    action: InstallAction,
    #[command(flatten)]
    remote: Remote,
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

/// Runs an `install` action.
pub async fn run(args: InstallArgs) -> Result<()> {
    let c = args.remote.client()?;
    match args.action {
        InstallAction::Revoke { id } => {
            c.revoke_install(&id).await?;
            eprintln!("revoked install {id}");
        }
        InstallAction::Move { id, channel } => {
            c.move_install(&id, &channel).await?;
            eprintln!("install {id} now follows {channel}");
        }
    }
    Ok(())
}
