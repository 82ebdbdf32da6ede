//! `sync --bundle FILE --registry HOST`: pushes a verified bundle's images, descriptor
//! and SBOMs into the customer's own registry, under the release's repositories and
//! by digest, so the engine pulls from there instead of from the loopback registry.
//!
//! Only blobs the bundle verification checked are pushed, and the registry confirms
//! each digest; the engine pulls by digest, so a registry that changed a byte would
//! fail the pull rather than run something else.

use anyhow::{Context as _, Result};
use driftless_bundle::{referenced, VerifiedBundle};
use driftless_oci::RegistryClient;
use driftless_wire::checkin::RegistryAccess;
use driftless_wire::release::ReleaseDocument;
use driftless_wire::Digest;

/// The largest blob read into memory for a push.
const MAX_BLOB_BYTES: u64 = 8 << 30;

/// How long the (unused) token of the customer's registry is said to live.
const NO_TOKEN_S: u64 = 7 * 24 * 3600;

/// Pushes everything `release` names from `bundle` into `host`; returns the access the
/// pull uses. Over http only for a loopback host, as the engine allows by default.
pub async fn push(
    bundle: &VerifiedBundle,
    release: &ReleaseDocument,
    host: &str,
) -> Result<RegistryAccess> {
    let insecure = is_loopback(host);
    let registry = RegistryClient::new(host, insecure, "")
        .with_context(|| format!("--registry {host} is not a registry host (host:port)"))?;
    let roots = release
        .images
        .iter()
        .map(|i| (&i.repository, &i.digest))
        .chain([(
            &release.descriptor.repository,
            &release.descriptor.manifest_digest,
        )])
        .chain(
            release
                .sboms
                .iter()
                .map(|s| (&s.repository, &s.manifest_digest)),
        );
    let mut pushed = 0usize;
    for (repo, digest) in roots {
        pushed += push_manifest(&registry, bundle, repo, digest)
            .await
            .with_context(|| format!("cannot push {repo}@{digest} to {host}"))?;
    }
    eprintln!(
        "pushed release {} to {host} ({pushed} objects)",
        release.version
    );
    Ok(RegistryAccess {
        host: host.to_string(),
        insecure,
        token: String::new(),
        expires_in: NO_TOKEN_S,
        issued_at: String::new(),
    })
}

/// Pushes manifest `digest`'s blobs (and child manifests) to `repo`, then the manifest
/// itself by digest; returns how many objects were sent.
async fn push_manifest(
    registry: &RegistryClient,
    bundle: &VerifiedBundle,
    repo: &str,
    digest: &Digest,
) -> Result<usize> {
    let bytes = bundle.read_blob(digest, MAX_BLOB_BYTES)?;
    let (own_type, refs) = referenced(digest, &bytes)?;
    let mut count = 0;
    for (entry, is_manifest) in refs {
        if is_manifest {
            count += Box::pin(push_manifest(registry, bundle, repo, &entry.digest)).await?;
        } else if !registry.blob_exists(repo, &entry.digest).await? {
            let blob = bundle.read_blob(&entry.digest, MAX_BLOB_BYTES)?;
            registry.push_blob(repo, &blob).await?;
            count += 1;
        }
    }
    let media_type = bundle
        .entry(digest)
        .map_or(own_type, |e| e.media_type.clone());
    registry
        .push_manifest(repo, digest.as_str(), &media_type, &bytes)
        .await?;
    Ok(count + 1)
}

fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}
