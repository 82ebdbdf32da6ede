//! `driftless-vendor releases` (list an app's releases) and `driftless-vendor release`
//! (deprecate, yank or restore one, or read its SBOMs).

use anyhow::Result;
use clap::Subcommand;
use driftless_wire::api::ReleaseInfo;

use crate::output::{self, Table};
use crate::remote::Remote;

/// Arguments of `releases`.
#[derive(clap::Args)]
pub struct ReleasesArgs {
    /// App name.
    #[arg(long)]
    app: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

/// Arguments of `release`.
#[derive(clap::Args)]
pub struct ReleaseArgs {
    #[command(subcommand)]
    action: ReleaseAction,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Subcommand)]
enum ReleaseAction {
    /// Installs on it are warned; it is still assigned.
    Deprecate(ReleaseRefArgs),
    /// Never assigned again; channels on it move back to their previous release.
    Yank(ReleaseRefArgs),
    /// Make a deprecated or yanked release active again.
    Restore(ReleaseRefArgs),
    /// Print or save the release's SBOMs, checked against the digests it signs.
    Sbom(crate::sbom::SbomArgs),
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

/// Runs `releases`.
pub async fn list(args: ReleasesArgs) -> Result<()> {
    let list = args.remote.client()?.list_releases(&args.app).await?;
    output::print_list(args.json, &list, table)
}

/// Runs a `release` action.
pub async fn set_state(args: ReleaseArgs) -> Result<()> {
    let (r, state) = match args.action {
        ReleaseAction::Deprecate(r) => (r, "deprecated"),
        ReleaseAction::Yank(r) => (r, "yanked"),
        ReleaseAction::Restore(r) => (r, "active"),
        ReleaseAction::Sbom(sbom) => return crate::sbom::run(sbom, &args.remote.client()?).await,
    };
    let changed = args
        .remote
        .client()?
        .set_release_state(&r.app, &r.release_version, state)
        .await?;
    eprintln!("release {} {} is now {state}", r.app, r.release_version);
    for w in &changed.floor_warnings {
        eprintln!("warning: {}", w.message);
    }
    Ok(())
}

fn table(releases: &[ReleaseInfo]) -> Table<5> {
    let mut t = Table::new(["VERSION", "COUNTER", "STATE", "CREATED", "DIGEST"]);
    for r in releases {
        t.row([
            r.version.clone(),
            r.release_counter.to_string(),
            r.state.clone(),
            output::timestamp(r.created_at),
            r.digest.clone(),
        ]);
    }
    t
}
