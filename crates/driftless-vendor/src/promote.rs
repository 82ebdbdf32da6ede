//! `driftless-vendor promote`: point a channel at a release, at once.

use anyhow::Result;

use crate::remote::Remote;

/// Arguments of `promote`.
#[derive(clap::Args)]
pub struct PromoteArgs {
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
}

/// Runs `promote`.
pub async fn run(args: PromoteArgs) -> Result<()> {
    let PromoteArgs {
        app,
        release_version,
        channel,
        remote,
    } = args;
    remote
        .client()?
        .promote(&app, &channel, &release_version)
        .await?;
    eprintln!("channel {app}/{channel} now points at {release_version}");
    Ok(())
}
