//! Reusing what the previous release already pushed, so publishing a release uploads
//! only what changed although every release lives in repositories of its own.
//!
//! The Docker Engine mounts a layer it pushed before from the repository it pushed it
//! to (the push token grants pull on the newest releases' repositories for that), but
//! it uploads an image's config whenever the target repository lacks it. So before the
//! engine pushes a service, its config is mounted here from the previous release's
//! repository of the same service, where an unchanged image left it.

use anyhow::{anyhow, Result};
use driftless_client::VendorClient;
use driftless_oci::{OciError, RegistryClient};
use driftless_wire::release::{ReleaseDocument, ReleaseImage};
use driftless_wire::{Digest, RELEASE_PAYLOAD_TYPE};

/// The images of the app's newest release (none before its first release).
pub async fn previous_images(client: &VendorClient, app: &str) -> Result<Vec<ReleaseImage>> {
    let releases = client.list_releases(app).await?;
    let Some(newest) = releases.iter().max_by_key(|r| r.release_counter) else {
        return Ok(Vec::new());
    };
    let detail = client.release(app, &newest.version).await?;
    // Only a hint of where blobs are: whatever is mounted is named by digest, and the
    // registry refuses a digest its source does not hold.
    let doc: ReleaseDocument = detail
        .envelope
        .decode(RELEASE_PAYLOAD_TYPE, "release document")
        .map_err(|e| anyhow!("cannot read release {} of `{app}`: {e}", newest.version))?;
    Ok(doc.images)
}

/// Mounts the config blob `config` of `service` into `repo` from the previous release's
/// repository of the same service, when that holds it; returns whether it did.
///
/// A token without pull on that repository only costs the upload the engine then
/// makes, so it does not fail the publish.
pub async fn mount_config(
    registry: &RegistryClient,
    previous: &[ReleaseImage],
    service: &str,
    repo: &str,
    config: &Digest,
) -> Result<bool> {
    let Some(source) = previous.iter().find(|i| i.service == service) else {
        return Ok(false);
    };
    let mounted = match registry.blob_exists(&source.repository, config).await {
        Ok(true) => registry.mount_blob(repo, &source.repository, config).await,
        other => other,
    };
    match mounted {
        Err(OciError::Unauthorized { .. }) => Ok(false),
        other => Ok(other?),
    }
}
