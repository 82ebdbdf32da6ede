//! `driftless-vendor bundle create`: one file an air-gapped host installs or upgrades
//! from: the root chain, the release document, an assignment the control plane's
//! director signs for the license's installs (with the expiry the vendor chooses), the
//! descriptor, every image's manifests, configs and layers, each stored once, and the
//! release's SBOMs; with `--since`, without the blobs an earlier release (which the
//! host applied) carried.

use anyhow::{Context as _, Result};
use driftless_bundle::{
    delta_index, expected_index, referenced, BundleError, BundleWriter, Header, Index,
    ManifestSource,
};
use driftless_client::VendorClient;
use driftless_oci::RegistryClient;
use driftless_wire::release::ReleaseDocument;
use driftless_wire::{Digest, RELEASE_PAYLOAD_TYPE};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use crate::remote::Remote;

/// The largest manifest fetched.
const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// The largest layer fetched.
const MAX_BLOB_BYTES: u64 = 8 << 30;

/// Arguments of `bundle`.
#[derive(clap::Args)]
pub struct BundleArgs {
    #[command(subcommand)]
    action: BundleAction,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Subcommand)]
enum BundleAction {
    /// Write an air-gap bundle of one release for one license's installs.
    Create(CreateArgs),
}

#[derive(clap::Args)]
struct CreateArgs {
    /// The app.
    #[arg(long)]
    app: String,
    /// The release to bundle.
    #[arg(long)]
    version: String,
    /// The license (its id) whose installs may use the bundle.
    #[arg(long)]
    license: String,
    /// How long hosts accept the bundle (e.g. `365d`); at most two years.
    #[arg(long, default_value = "180d")]
    expires: String,
    /// Write a delta bundle: leave out the blobs this release (one the hosts applied
    /// from a bundle) carried; hosts take them from what they kept.
    #[arg(long, value_name = "VERSION")]
    since: Option<String>,
    /// Where to write the bundle.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
}

/// Runs a `bundle` action.
pub async fn run(args: BundleArgs) -> Result<()> {
    let client = args.remote.client()?;
    match args.action {
        BundleAction::Create(c) => create(&client, &c).await,
    }
}

async fn create(client: &VendorClient, args: &CreateArgs) -> Result<()> {
    let lifetime = humantime::parse_duration(&args.expires)
        .map_err(|e| driftless_exit::InvalidInput(format!("--expires {}: {e}", args.expires)))?;
    let started = Instant::now();
    let info = client.info().await?;
    let detail = client.release(&args.app, &args.version).await?;
    let release: ReleaseDocument = detail
        .envelope
        .decode(RELEASE_PAYLOAD_TYPE, "release document")?;
    let expires = info.server_time + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    let issued = client
        .bundle_assignment(&args.license, &args.version, expires)
        .await?;
    let mut roots = Vec::new();
    for v in 1..=issued.root_version {
        roots.push(
            client
                .root(v)
                .await
                .with_context(|| format!("cannot fetch root version {v}"))?,
        );
    }
    let token = client.registry_pull_token(&release.repositories()).await?;
    let registry = RegistryClient::new(&info.registry_host, info.registry_insecure, &token)?;
    let fetched = fetch_manifests(&registry, &release).await?;
    let mut index = expected_index(&release, &mut Fetched(&fetched))?;
    if let Some(since) = &args.since {
        let base = base_index(client, &info, &args.app, since).await?;
        index = delta_index(index, &base);
    }
    let header = Header {
        roots,
        assignment: issued.assignment,
        release: detail.envelope,
    };
    let blob_bytes = index.blob_bytes();
    let mut writer = BundleWriter::create(&args.output, &header, index)?;
    while let Some(digest) = writer.next_digest().cloned() {
        let bytes = match fetched.manifests.get(&digest) {
            Some(m) => m.clone(),
            None => {
                let repo = fetched.repo_of.get(&digest).map_or("", String::as_str);
                registry.fetch_blob(repo, &digest, MAX_BLOB_BYTES).await?
            }
        };
        writer.append(&bytes)?;
    }
    let size = writer.finish()?;
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let delta = args
        .since
        .as_ref()
        .map_or(String::new(), |v| format!(", a delta on top of {v}"));
    eprintln!(
        "wrote {} ({} {}{delta}, {size} bytes for {blob_bytes} bytes of blobs, {:.1} MB/s); hosts accept it until {}",
        args.output.display(),
        args.app,
        args.version,
        size as f64 / 1e6 / secs,
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(expires).unwrap_or(0)))
    );
    Ok(())
}

/// The index of release `since`: what a delta bundle on top of it leaves out.
async fn base_index(
    client: &VendorClient,
    info: &driftless_wire::api::ServerInfo,
    app: &str,
    since: &str,
) -> Result<Index> {
    let detail = client
        .release(app, since)
        .await
        .with_context(|| format!("--since {since}: cannot read that release of {app}"))?;
    let base: ReleaseDocument = detail
        .envelope
        .decode(RELEASE_PAYLOAD_TYPE, "release document")?;
    let token = client.registry_pull_token(&base.repositories()).await?;
    let registry = RegistryClient::new(&info.registry_host, info.registry_insecure, &token)?;
    let fetched = fetch_manifests(&registry, &base).await?;
    Ok(expected_index(&base, &mut Fetched(&fetched))?)
}

/// The release's manifests, and the repository each blob is pulled from.
struct FetchedManifests {
    manifests: BTreeMap<Digest, Vec<u8>>,
    repo_of: BTreeMap<Digest, String>,
}

struct Fetched<'a>(&'a FetchedManifests);

impl ManifestSource for Fetched<'_> {
    fn manifest(&mut self, digest: &Digest) -> Result<Vec<u8>, BundleError> {
        self.0
            .manifests
            .get(digest)
            .cloned()
            .ok_or_else(|| BundleError::Manifest {
                digest: digest.to_string(),
                reason: "it was not fetched".into(),
            })
    }
}

async fn fetch_manifests(
    registry: &RegistryClient,
    release: &ReleaseDocument,
) -> Result<FetchedManifests> {
    let mut out = FetchedManifests {
        manifests: BTreeMap::new(),
        repo_of: BTreeMap::new(),
    };
    let mut todo: Vec<(String, Digest)> = release
        .images
        .iter()
        .map(|i| (i.repository.clone(), i.digest.clone()))
        .chain([(
            release.descriptor.repository.clone(),
            release.descriptor.manifest_digest.clone(),
        )])
        .chain(
            release
                .sboms
                .iter()
                .map(|s| (s.repository.clone(), s.manifest_digest.clone())),
        )
        .collect();
    while let Some((repo, digest)) = todo.pop() {
        if out.manifests.contains_key(&digest) {
            continue;
        }
        let (_, bytes) = registry
            .fetch_manifest(&repo, &digest, MAX_MANIFEST_BYTES)
            .await?;
        for (entry, is_manifest) in referenced(&digest, &bytes)?.1 {
            if is_manifest {
                todo.push((repo.clone(), entry.digest));
            } else {
                out.repo_of
                    .entry(entry.digest)
                    .or_insert_with(|| repo.clone());
            }
        }
        out.manifests.insert(digest, bytes);
    }
    Ok(out)
}
