//! A compose file stored as an OCI artifact, in the layout `docker compose publish` uses.
//!
//! The manifest is a plain OCI 1.0 image manifest (no `artifactType`, which distribution
//! 2.8 predates) whose config and single layer carry compose's media types.

use crate::{OciError, RegistryClient, MANIFEST_CAP_BYTES};
use driftless_wire::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Media type of an OCI image manifest.
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of a compose artifact's config (the empty JSON object).
pub const COMPOSE_CONFIG_MEDIA_TYPE: &str = "application/vnd.docker.compose.project";
/// Media type of the layer holding the compose file.
pub const COMPOSE_FILE_MEDIA_TYPE: &str = "application/vnd.docker.compose.file+yaml";
/// Layer annotation naming the compose file.
pub const COMPOSE_FILE_ANNOTATION: &str = "com.docker.compose.file";

const EMPTY_CONFIG: &[u8] = b"{}";
const COMPOSE_FILE_NAME: &str = "compose.yaml";

/// Where a pushed compose file ended up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComposeArtifact {
    /// Digest of the manifest, the immutable reference to pull by.
    pub manifest_digest: Digest,
    /// Digest of the compose file layer.
    pub file_digest: Digest,
    /// Size of the compose file in bytes.
    pub size: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: Digest,
    size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

impl RegistryClient {
    /// Pushes `compose_yaml` as a compose artifact in `repo`, tagged `tag`.
    pub async fn push_compose_artifact(
        &self,
        repo: &str,
        tag: &str,
        compose_yaml: &[u8],
    ) -> Result<ComposeArtifact, OciError> {
        let config_digest = self.push_blob(repo, EMPTY_CONFIG).await?;
        let file_digest = self.push_blob(repo, compose_yaml).await?;
        let size = compose_yaml.len() as u64;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST_MEDIA_TYPE.to_string()),
            config: Descriptor {
                media_type: COMPOSE_CONFIG_MEDIA_TYPE.to_string(),
                digest: config_digest,
                size: EMPTY_CONFIG.len() as u64,
                annotations: BTreeMap::new(),
            },
            layers: vec![Descriptor {
                media_type: COMPOSE_FILE_MEDIA_TYPE.to_string(),
                digest: file_digest.clone(),
                size,
                annotations: BTreeMap::from([(
                    COMPOSE_FILE_ANNOTATION.to_string(),
                    COMPOSE_FILE_NAME.to_string(),
                )]),
            }],
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| OciError::Protocol {
            what: format!("encoding the compose manifest for {repo}:{tag}"),
            reason: e.to_string(),
            hint: None,
        })?;
        let manifest_digest = self
            .push_manifest(repo, tag, OCI_MANIFEST_MEDIA_TYPE, &bytes)
            .await?;
        Ok(ComposeArtifact {
            manifest_digest,
            file_digest,
            size,
        })
    }
}

/// Fetches the compose file of the artifact `manifest_digest` in `repo`.
///
/// The manifest must be a compose artifact whose one layer is `file_digest`; the file is
/// read up to `max_bytes` and checked against `file_digest`.
pub async fn fetch_compose_file(
    client: &RegistryClient,
    repo: &str,
    manifest_digest: &Digest,
    file_digest: &Digest,
    max_bytes: u64,
) -> Result<Vec<u8>, OciError> {
    let (media_type, bytes) = client
        .fetch_manifest(repo, manifest_digest, MANIFEST_CAP_BYTES)
        .await?;
    let what = format!("manifest {manifest_digest} of {repo}");
    let layer = compose_layer(&media_type, &bytes, &what)?;
    if &layer.digest != file_digest {
        return Err(not_compose(
            &what,
            &format!(
                "its compose layer is {} but the release names {file_digest}",
                layer.digest
            ),
        ));
    }
    if layer.size > max_bytes {
        return Err(OciError::TooLarge {
            what: format!("compose file {file_digest} of {repo}"),
            cap: max_bytes,
        });
    }
    client.fetch_blob(repo, file_digest, max_bytes).await
}

/// The single compose-file layer of a compose artifact manifest.
fn compose_layer(media_type: &str, bytes: &[u8], what: &str) -> Result<Descriptor, OciError> {
    let manifest: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| not_compose(what, &format!("it is not an OCI image manifest ({e})")))?;
    let declared = manifest.media_type.as_deref().unwrap_or(media_type);
    if manifest.schema_version != 2 || declared != OCI_MANIFEST_MEDIA_TYPE {
        return Err(not_compose(
            what,
            &format!("its media type is `{declared}`, not an OCI image manifest"),
        ));
    }
    if manifest.config.media_type != COMPOSE_CONFIG_MEDIA_TYPE {
        return Err(not_compose(
            what,
            &format!("its config media type is `{}`", manifest.config.media_type),
        ));
    }
    let mut layers = manifest.layers.into_iter();
    match (layers.next(), layers.next()) {
        (Some(layer), None) if layer.media_type == COMPOSE_FILE_MEDIA_TYPE => Ok(layer),
        (Some(layer), None) => Err(not_compose(
            what,
            &format!("its layer media type is `{}`", layer.media_type),
        )),
        _ => Err(not_compose(what, "it does not have exactly one layer")),
    }
}

fn not_compose(what: &str, reason: &str) -> OciError {
    OciError::Protocol {
        what: what.to_string(),
        reason: format!("not a compose artifact: {reason}"),
        hint: Some("republish the release"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn manifest(config_type: &str, layers: &[(&str, &[u8])]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": config_type, "digest": Digest::of(b"{}"), "size": 2},
            "layers": layers.iter().map(|(t, b)| serde_json::json!({
                "mediaType": t, "digest": Digest::of(b), "size": b.len()
            })).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    #[test]
    fn accepts_only_a_single_compose_layer_under_a_compose_config() {
        let ok = manifest(
            COMPOSE_CONFIG_MEDIA_TYPE,
            &[(COMPOSE_FILE_MEDIA_TYPE, b"x")],
        );
        let layer = compose_layer(OCI_MANIFEST_MEDIA_TYPE, &ok, "m").unwrap();
        assert_eq!(layer.digest, Digest::of(b"x"));

        for bad in [
            manifest(
                "application/vnd.oci.image.config.v1+json",
                &[(COMPOSE_FILE_MEDIA_TYPE, b"x")],
            ),
            manifest(
                COMPOSE_CONFIG_MEDIA_TYPE,
                &[("application/octet-stream", b"x")],
            ),
            manifest(COMPOSE_CONFIG_MEDIA_TYPE, &[]),
            manifest(
                COMPOSE_CONFIG_MEDIA_TYPE,
                &[
                    (COMPOSE_FILE_MEDIA_TYPE, b"x"),
                    (COMPOSE_FILE_MEDIA_TYPE, b"y"),
                ],
            ),
            b"not json".to_vec(),
        ] {
            assert!(matches!(
                compose_layer(OCI_MANIFEST_MEDIA_TYPE, &bad, "m"),
                Err(OciError::Protocol { .. })
            ));
        }
        let wrong_config = manifest("application/x", &[(COMPOSE_FILE_MEDIA_TYPE, b"x")]);
        let Err(err) = compose_layer(OCI_MANIFEST_MEDIA_TYPE, &wrong_config, "m") else {
            panic!("a manifest with another config media type is not a compose artifact");
        };
        assert_eq!(
            err.to_string(),
            "m: not a compose artifact: its config media type is `application/x`"
        );
        assert_eq!(err.hint().as_deref(), Some("republish the release"));
    }
}
