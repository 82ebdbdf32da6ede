//! What the signed release document names, blob by blob: its images' manifests, their
//! configs and layers, the descriptor's manifest and blobs, and its SBOMs (each an
//! artifact manifest beside its image, with the document as its one layer).

use driftless_wire::release::ReleaseDocument;
use driftless_wire::Digest;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

use crate::error::BundleError;
use crate::format::{BlobEntry, Index};

/// The largest manifest read.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Gives the bytes of a manifest by digest, already checked against it.
pub trait ManifestSource {
    /// The manifest `digest`.
    fn manifest(&mut self, digest: &Digest) -> Result<Vec<u8>, BundleError>;
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: Digest,
    size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// What a manifest refers to: `(entry, is_manifest)` for its config, layers and (an
/// index) child manifests; also its own media type.
pub fn referenced(
    digest: &Digest,
    bytes: &[u8],
) -> Result<(String, Vec<(BlobEntry, bool)>), BundleError> {
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| BundleError::Manifest {
        digest: digest.to_string(),
        reason: e.to_string(),
    })?;
    let entry = |d: Descriptor| BlobEntry {
        digest: d.digest,
        size: d.size,
        media_type: d.media_type,
    };
    let mut out: Vec<(BlobEntry, bool)> = m.config.into_iter().map(|d| (entry(d), false)).collect();
    out.extend(m.layers.into_iter().map(|d| (entry(d), false)));
    out.extend(m.manifests.into_iter().map(|d| (entry(d), true)));
    let media_type = m.media_type.unwrap_or_else(|| OCI_MANIFEST.to_string());
    Ok((media_type, out))
}

/// The one index a bundle of `release` may carry: every blob it names, sorted by
/// digest, each once. Manifests come from `source` (which checks their digests).
pub fn expected_index(
    release: &ReleaseDocument,
    source: &mut dyn ManifestSource,
) -> Result<Index, BundleError> {
    let mut blobs: BTreeMap<Digest, BlobEntry> = BTreeMap::new();
    let mut todo: Vec<(Digest, Option<String>)> = release
        .images
        .iter()
        .map(|i| (i.digest.clone(), None))
        .chain([(release.descriptor.manifest_digest.clone(), None)])
        .chain(
            release
                .sboms
                .iter()
                .map(|s| (s.manifest_digest.clone(), None)),
        )
        .collect();
    while let Some((digest, listed_type)) = todo.pop() {
        if blobs.contains_key(&digest) {
            continue;
        }
        let bytes = source.manifest(&digest)?;
        let (own_type, refs) = referenced(&digest, &bytes)?;
        let entry = BlobEntry {
            digest: digest.clone(),
            size: bytes.len() as u64,
            media_type: listed_type.unwrap_or(own_type),
        };
        blobs.insert(digest, entry);
        for (r, is_manifest) in refs {
            if is_manifest {
                todo.push((r.digest, Some(r.media_type)));
            } else {
                blobs.entry(r.digest.clone()).or_insert(r);
            }
        }
    }
    // The signed release names each SBOM document by digest too: its manifest must
    // carry exactly that document.
    if let Some(s) = release
        .sboms
        .iter()
        .find(|s| !blobs.contains_key(&s.digest))
    {
        return Err(BundleError::Manifest {
            digest: s.manifest_digest.to_string(),
            reason: format!(
                "the SBOM of service `{}` does not carry the document {} the release names",
                s.service, s.digest
            ),
        });
    }
    Ok(Index {
        app: release.app.clone(),
        version: release.version.to_string(),
        blobs: blobs.into_values().collect(),
        since: None,
    })
}

/// The index of a delta bundle: `full` without the blobs `base` (the index of the
/// release it goes on top of) already carried.
pub fn delta_index(mut full: Index, base: &Index) -> Index {
    let carried: HashSet<&Digest> = base.blobs.iter().map(|b| &b.digest).collect();
    full.blobs.retain(|b| !carried.contains(&b.digest));
    full.since = Some(base.version.clone());
    full
}
