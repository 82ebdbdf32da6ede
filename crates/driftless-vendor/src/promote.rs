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
    /// Promote although the channel's gate refuses the release; the reason is audited.
    #[arg(long, value_name = "REASON")]
    override_gate: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

/// Runs `promote`.
pub async fn run(args: PromoteArgs) -> Result<()> {
    let PromoteArgs {
        app,
        release_version,
        channel,
        override_gate,
        remote,
    } = args;
    let req = driftless_wire::api::Promote {
        version: release_version.clone(),
        override_gate: crate::gate::override_reason(override_gate)?,
    };
    remote.client()?.promote_with(&app, &channel, &req).await?;
    eprintln!("channel {app}/{channel} now points at {release_version}");
    Ok(())
}
