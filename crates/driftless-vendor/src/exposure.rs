//! `driftless-vendor exposure --advisory ID`: the releases whose SBOMs contain a
//! component the advisory affects, and the customers' installs that report running one.

use anyhow::Result;

use crate::remote::Remote;

/// Arguments of `exposure`.
#[derive(clap::Args)]
pub struct ExposureArgs {
    /// The advisory's id or alias (e.g. GHSA-…, CVE-…, DSA-…).
    #[arg(long)]
    advisory: String,
    #[command(flatten)]
    remote: Remote,
}

/// Runs `exposure`: JSON on stdout, a one-line summary on stderr.
pub async fn run(args: ExposureArgs) -> Result<()> {
    let report = args.remote.client()?.exposure(&args.advisory).await?;
    crate::output::print_json(&report)?;
    let count = |k: &str| report.get(k).and_then(|v| v.as_array()).map_or(0, Vec::len);
    eprintln!(
        "{}: {} releases contain an affected component; {} installs run one",
        args.advisory,
        count("releases"),
        count("installs")
    );
    Ok(())
}
