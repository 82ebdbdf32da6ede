//! Pushing locally built images to the registry through the Docker Engine API.

use anyhow::{anyhow, bail, Context as _, Result};
use bollard::auth::DockerCredentials;
use bollard::image::{PushImageOptions, TagImageOptions};
use bollard::Docker;
use driftless_exit::HintExt as _;
use driftless_wire::Digest;
use futures_util::StreamExt as _;

/// What the engine knows of a local image.
pub struct LocalImage {
    /// The image id: the digest of its config, which a push uploads as a blob.
    pub config: Option<Digest>,
    /// Unpacked size in bytes.
    pub size: u64,
    /// `os/arch`.
    pub platform: String,
}

/// A connection to the local Docker Engine.
pub struct Engine {
    pub(crate) docker: Docker,
}

impl Engine {
    /// Connects and negotiates the API version.
    pub async fn connect() -> Result<Self> {
        const HINT: &str = "check that the engine is running and that DOCKER_HOST is right";
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| anyhow!("cannot reach the Docker Engine: {e}"))
            .hint(HINT)?
            .negotiate_version()
            .await
            .map_err(|e| anyhow!("cannot reach the Docker Engine: {e}"))
            .hint(HINT)?;
        Ok(Engine { docker })
    }

    /// Inspects `reference`, or says it is missing.
    pub async fn local_image(&self, reference: &str, service: &str) -> Result<LocalImage> {
        let info = self.docker.inspect_image(reference).await.map_err(|e| match e {
            bollard::errors::Error::DockerResponseServerError { status_code: 404, .. } => {
                anyhow::Error::new(driftless_exit::InvalidInput(format!(
                    "image `{reference}` of service `{service}` is not present in the local Docker Engine"
                )))
                .context(driftless_exit::Hint("build or load it before publishing".into()))
            }
            other => anyhow!("cannot inspect image `{reference}`: {other}"),
        })?;
        Ok(LocalImage {
            config: info.id.as_deref().and_then(|id| id.parse().ok()),
            size: info.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
            platform: format!(
                "{}/{}",
                info.os.unwrap_or_else(|| "linux".into()),
                info.architecture.unwrap_or_else(|| "amd64".into())
            ),
        })
    }

    /// Tags `reference` as `target_repo:tag` and pushes it with `token`; returns the
    /// manifest digest the registry stored.
    pub async fn push(
        &self,
        reference: &str,
        registry: &str,
        target_repo: &str,
        tag: &str,
        token: &str,
    ) -> Result<String> {
        let full = format!("{registry}/{target_repo}");
        self.docker
            .tag_image(
                reference,
                Some(TagImageOptions {
                    repo: full.as_str(),
                    tag,
                }),
            )
            .await
            .with_context(|| format!("cannot tag `{reference}` as {full}:{tag}"))?;
        let creds = DockerCredentials {
            registrytoken: Some(token.to_string()),
            serveraddress: Some(registry.to_string()),
            ..Default::default()
        };
        let mut stream = self
            .docker
            .push_image(&full, Some(PushImageOptions { tag }), Some(creds));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| anyhow!("push of {full}:{tag} failed: {e}"))?;
            if let Some(err) = info.error {
                bail!("push of {full}:{tag} failed: {err}");
            }
        }
        let info = self.docker.inspect_image(&format!("{full}:{tag}")).await?;
        let prefix = format!("{full}@");
        info.repo_digests
            .unwrap_or_default()
            .into_iter()
            .find_map(|d| d.strip_prefix(&prefix).map(str::to_string))
            .ok_or_else(|| anyhow!("the engine reported no digest for {full}:{tag} after the push"))
    }
}
