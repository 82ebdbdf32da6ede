//! An SBOM stored beside the image it describes. Distribution 2.8 has no referrers
//! API, so the SBOM is an OCI 1.0 image manifest (config: the empty descriptor; one
//! layer: the SBOM under its own media type) tagged `sha256-<image digest hex>.sbom` in
//! the image's repository: the OCI 1.1 tag-schema fallback. The signed release
//! document names it by digest, so the tag is only a way to find it.

use crate::compose::OCI_MANIFEST_MEDIA_TYPE;
use crate::{OciError, RegistryClient};
use driftless_wire::Digest;
use serde_json::json;

/// Media type of the OCI empty config (`{}`).
pub const OCI_EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

const EMPTY_CONFIG: &[u8] = b"{}";

/// Where a pushed SBOM ended up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SbomArtifact {
    /// Digest of the manifest that wraps it.
    pub manifest_digest: Digest,
    /// Digest of the SBOM itself.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

impl RegistryClient {
    /// Pushes `sbom` (of `media_type`) into `repo` under `tag`.
    pub async fn push_sbom_artifact(
        &self,
        repo: &str,
        tag: &str,
        media_type: &str,
        sbom: &[u8],
    ) -> Result<SbomArtifact, OciError> {
        let config = self.push_blob(repo, EMPTY_CONFIG).await?;
        let digest = self.push_blob(repo, sbom).await?;
        let size = sbom.len() as u64;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": OCI_EMPTY_CONFIG_MEDIA_TYPE,
                "digest": config,
                "size": EMPTY_CONFIG.len(),
            },
            "layers": [{
                "mediaType": media_type,
                "digest": digest,
                "size": size,
                "annotations": {"org.opencontainers.image.title": "sbom.json"},
            }],
        });
        let bytes = serde_json::to_vec(&manifest).map_err(|e| OciError::Protocol {
            what: format!("encoding the SBOM manifest for {repo}:{tag}"),
            reason: e.to_string(),
            hint: None,
        })?;
        let manifest_digest = self
            .push_manifest(repo, tag, OCI_MANIFEST_MEDIA_TYPE, &bytes)
            .await?;
        Ok(SbomArtifact {
            manifest_digest,
            digest,
            size,
        })
    }
}
