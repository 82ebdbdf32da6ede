//! `driftless-vendor support-bundle list|get|analyze`: the support bundles installs
//! uploaded (`driftless support-bundle --upload`), and what the release's analyzers
//! (`x-driftless.analyzers`) find in one.

mod analyze;
mod archive;

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use driftless_client::VendorClient;
use driftless_exit::HintExt as _;
use driftless_wire::api::SupportBundleInfo;

use crate::output::{self, Table};
use crate::remote::Remote;

/// The largest bundle `get` and `analyze` download.
const MAX_DOWNLOAD_BYTES: usize = 1 << 30;

/// Arguments of `support-bundle`.
#[derive(clap::Args)]
pub struct SupportBundleArgs {
    #[command(subcommand)]
    command: SupportBundleCommand,
}

#[derive(clap::Subcommand)]
enum SupportBundleCommand {
    /// The bundles an install uploaded, newest first.
    List {
        /// The install.
        #[arg(long = "install", value_name = "ID")]
        install: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Download one bundle (the newest unless --bundle).
    Get {
        #[command(flatten)]
        which: Which,
        /// Where to write it [default: support-<install>-<n>.tar.gz here].
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Run the release's analyzers on a bundle: a file, or one an install uploaded.
    Analyze {
        /// A bundle file (from `driftless support-bundle -o FILE` or `get`).
        #[arg(
            value_name = "FILE",
            conflicts_with = "install",
            required_unless_present = "install"
        )]
        file: Option<PathBuf>,
        #[command(flatten)]
        which: OptionalWhich,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `--install ID [--bundle N]`.
#[derive(clap::Args)]
struct Which {
    /// The install that uploaded it.
    #[arg(long = "install", value_name = "ID")]
    install: String,
    /// The bundle's number (from `list`) [default: the newest].
    #[arg(long = "bundle", value_name = "N")]
    bundle: Option<u64>,
}

/// `[--install ID [--bundle N]]`, for `analyze`.
#[derive(clap::Args)]
struct OptionalWhich {
    /// Analyze a bundle this install uploaded.
    #[arg(long = "install", value_name = "ID")]
    install: Option<String>,
    /// The bundle's number (from `list`) [default: the newest].
    #[arg(long = "bundle", value_name = "N", requires = "install")]
    bundle: Option<u64>,
}

/// Runs `support-bundle`.
pub async fn run(args: SupportBundleArgs) -> Result<()> {
    match args.command {
        SupportBundleCommand::List {
            install,
            json,
            remote,
        } => {
            let bundles = remote.client()?.list_support_bundles(&install).await?;
            output::print_list(json, &bundles, table)
        }
        SupportBundleCommand::Get {
            which,
            output,
            remote,
        } => {
            let (n, bytes) = download(&remote.client()?, &which.install, which.bundle).await?;
            let path = output
                .unwrap_or_else(|| PathBuf::from(format!("support-{}-{n}.tar.gz", which.install)));
            write_private(&path, &bytes)?;
            println!("{}", path.display());
            Ok(())
        }
        SupportBundleCommand::Analyze {
            file,
            which,
            json,
            remote,
        } => {
            let bytes = match (file, which.install) {
                (Some(path), _) => std::fs::read(&path).with_context(|| {
                    format!("cannot read the support bundle {}", path.display())
                })?,
                (None, Some(install)) => {
                    download(&remote.client()?, &install, which.bundle).await?.1
                }
                // clap requires one of the two.
                (None, None) => {
                    driftless_exit::refuse!(hint = "name a bundle file or --install ID"; "no support bundle given")
                }
            };
            analyze::run(&bytes, json)
        }
    }
}

/// Bundle `bundle` (the newest when `None`) of `install`: its number and bytes.
async fn download(
    client: &VendorClient,
    install: &str,
    bundle: Option<u64>,
) -> Result<(u64, Vec<u8>)> {
    let n = match bundle {
        Some(n) => n,
        None => client
            .list_support_bundles(install)
            .await?
            .first()
            .map(|b| b.id)
            .ok_or_else(|| {
                driftless_exit::Coded(
                    driftless_exit::code::NOT_FOUND,
                    format!("install `{install}` has uploaded no support bundle"),
                )
            })
            .hint("on the host, run `driftless support-bundle --upload`")?,
    };
    let bytes = client
        .support_bundle(install, n, MAX_DOWNLOAD_BYTES)
        .await?;
    Ok((n, bytes))
}

/// Writes `bytes` to `path`, readable by its owner only: a bundle is the customer's.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn table(bundles: &[SupportBundleInfo]) -> Table<4> {
    let mut t = Table::new(["BUNDLE", "RECEIVED", "SIZE", "DIGEST"]);
    for b in bundles {
        t.row([
            b.id.to_string(),
            output::timestamp(b.created_at),
            b.size.to_string(),
            b.digest.clone(),
        ]);
    }
    t
}
