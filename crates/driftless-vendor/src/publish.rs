//! `driftless-vendor publish`: pin every image by digest, push images and the compose
//! descriptor to the registry, sign the release document and upload it.
//!
//! Every check that can refuse the release runs before anything is uploaded.

use anyhow::{anyhow, Context as _, Result};
use driftless_client::VendorClient;
use driftless_descriptor::{ComposeFile, MAX_DESCRIPTOR_BYTES};
use driftless_oci::RegistryClient;
use driftless_wire::release::{
    CliBinary, DescriptorRef, HealthSpec, ReleaseDocument, ReleaseImage,
};
use driftless_wire::{Digest, Envelope, RELEASE_PAYLOAD_TYPE};
use std::collections::BTreeMap;
use std::path::Path;

use crate::push::Engine;

/// How long a release document stays installable.
const RELEASE_LIFETIME_S: i64 = 5 * 365 * 86400;

/// Options of `publish`.
pub struct PublishOptions<'a> {
    /// App name.
    pub app: &'a str,
    /// Semver version.
    pub version: &'a str,
    /// The compose file.
    pub compose: &'a Path,
    /// Release notes file.
    pub notes: Option<&'a Path>,
    /// The release signing key.
    pub signer: &'a crate::signer::ReleaseSigner,
    /// Oldest CLI that can apply the release.
    pub min_cli_version: &'a str,
    /// Health timeout, seconds.
    pub health_timeout_s: u64,
    /// CLI binaries offered with the release: `(platform, path)`.
    pub cli_binaries: &'a [(String, std::path::PathBuf)],
    /// The binaries' version, instead of running `PATH --version` (hidden; tests).
    pub cli_version: Option<&'a str>,
}

/// What was published.
pub struct Published {
    /// The release document.
    pub release: ReleaseDocument,
    /// Digest of its signed payload.
    pub digest: Digest,
}

/// The repository a service's image is pushed to.
fn service_repository(app: &str, service: &str) -> Result<String> {
    let repo = format!("{app}/{}", service.to_ascii_lowercase());
    if service == "compose" || !driftless_registry_token::valid_repository_name(&repo) {
        driftless_exit::refuse!("service name `{service}` cannot be a registry repository name (`{repo}`); rename the service to lowercase letters and digits with single '.', '_' or '-' between them, and not `compose`");
    }
    Ok(repo)
}

/// Publishes one release. Refuses, uploading nothing, on any bad input.
pub async fn publish(
    client: &VendorClient,
    opts: &PublishOptions<'_>,
    now: i64,
) -> Result<Published> {
    let version: semver::Version = opts.version.parse().map_err(|e| {
        driftless_exit::InvalidInput(format!("version `{}` is not semver: {e}", opts.version))
    })?;
    let min_cli: semver::Version = opts.min_cli_version.parse().map_err(|e| {
        driftless_exit::InvalidInput(format!(
            "--min-cli-version `{}` is not semver: {e}",
            opts.min_cli_version
        ))
    })?;
    let bytes = read_capped(opts.compose, MAX_DESCRIPTOR_BYTES)?;
    let compose =
        ComposeFile::parse(&bytes).with_context(|| format!("in {}", opts.compose.display()))?;
    compose
        .check_variables_declared()
        .with_context(|| format!("in {}", opts.compose.display()))?;
    let schema = compose
        .config_schema()
        .with_context(|| format!("in {}", opts.compose.display()))?;
    let (health_timeout, probe) = compose
        .health()
        .with_context(|| format!("in {}", opts.compose.display()))?;
    let notes = match opts.notes {
        Some(p) => Some(
            String::from_utf8(read_capped(p, 256 * 1024)?)
                .map_err(|_| anyhow!("{} is not UTF-8", p.display()))?,
        ),
        None => None,
    };

    let cli_binaries = read_cli_binaries(opts.cli_binaries, opts.cli_version)?;

    let info = client.info().await?;
    let key_id = check_release_key(client, info.root_version, opts.signer).await?;
    let releases = client.list_releases(opts.app).await?;
    if releases.iter().any(|r| r.version == version.to_string()) {
        return Err(driftless_exit::Conflict(format!(
            "app `{}` already has release {version}; publish a new version",
            opts.app
        ))
        .into());
    }
    let counter = releases
        .iter()
        .map(|r| r.release_counter)
        .max()
        .unwrap_or(0)
        + 1;

    let engine = Engine::connect().await?;
    let mut plan = Vec::new();
    for s in compose.services() {
        if s.image.contains('$') {
            driftless_exit::refuse!("image `{}` of service `{}` uses a variable; publish needs a concrete image it can pin by digest", s.image, s.service);
        }
        let repo = service_repository(opts.app, &s.service)?;
        let local = engine.local_image(&s.image, &s.service).await?;
        plan.push((s, repo, local));
    }
    let descriptor_repo = format!("{}/compose", opts.app);
    let mut repos: Vec<String> = plan.iter().map(|(_, r, _)| r.clone()).collect();
    repos.push(descriptor_repo.clone());
    let token = client.push_token(opts.app, &repos).await?;

    let tag = version.to_string().replace('+', "_");
    let mut images = Vec::new();
    let mut pins = BTreeMap::new();
    let registry = RegistryClient::new(&info.registry_host, info.registry_insecure, &token.token)?;
    for (s, repo, local) in &plan {
        eprintln!("pushing {} as {}/{repo}:{tag}", s.image, info.registry_host);
        let digest: Digest = engine
            .push(&s.image, &info.registry_host, repo, &tag, &token.token)
            .await?
            .parse()
            .map_err(|e| anyhow!("registry returned a bad digest: {e}"))?;
        // Confirm the registry really holds that manifest under that digest.
        registry
            .fetch_manifest(repo, &digest, driftless_oci::MANIFEST_CAP_BYTES)
            .await?;
        pins.insert(s.service.clone(), format!("{repo}@{digest}"));
        images.push(ReleaseImage {
            service: s.service.clone(),
            repository: repo.clone(),
            digest,
            platforms: vec![local.platform.clone()],
            size: local.size,
        });
    }
    let pinned = compose.pin_images(&pins)?;
    let artifact = registry
        .push_compose_artifact(&descriptor_repo, &tag, &pinned)
        .await?;

    let mut cli = Vec::new();
    for (binary, bytes) in cli_binaries {
        eprintln!(
            "uploading driftless {} for {} ({} bytes)",
            binary.version, binary.platform, binary.size
        );
        client.upload_artifact(&binary.digest, bytes).await?;
        cli.push(binary);
    }

    let release = ReleaseDocument {
        doc_type: "release".into(),
        app: opts.app.to_string(),
        version,
        release_counter: counter,
        created_at: now,
        expires: now + RELEASE_LIFETIME_S,
        images,
        descriptor: DescriptorRef {
            repository: descriptor_repo,
            manifest_digest: artifact.manifest_digest,
            digest: artifact.file_digest,
            size: artifact.size,
        },
        config_schema: schema,
        health: HealthSpec {
            timeout_s: health_timeout.unwrap_or(opts.health_timeout_s),
            probe,
        },
        min_cli_version: min_cli,
        rollback_floor: 0,
        cli,
        notes,
    };
    let payload = serde_json::to_vec(&release)?;
    let mut envelope = Envelope::new(RELEASE_PAYLOAD_TYPE, &payload);
    let signature = opts.signer.sign(&envelope.signing_input()?)?;
    envelope.add_signature(key_id, &signature);
    client.upload_release(opts.app, &envelope).await?;
    Ok(Published {
        release,
        digest: Digest::of(&payload),
    })
}

/// Refuses, before anything is pushed, a signer whose key the newest root does not
/// trust; returns the key id it signs with.
async fn check_release_key(
    client: &VendorClient,
    root_version: u64,
    signer: &crate::signer::ReleaseSigner,
) -> Result<driftless_wire::KeyId> {
    let env = client.root(root_version).await?;
    let root: driftless_wire::root::RootDocument =
        env.decode(driftless_wire::ROOT_PAYLOAD_TYPE, "root document")?;
    let (trusted, _) = root.role_keys(driftless_wire::root::Role::Release);
    signer.key_id(&trusted, root_version)
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > cap {
        driftless_exit::refuse!(
            "{} is {} bytes, larger than the {cap}-byte limit",
            path.display(),
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads every `--cli-binary` and learns its version, refusing bad input before
/// anything is uploaded.
fn read_cli_binaries(
    binaries: &[(String, std::path::PathBuf)],
    version_override: Option<&str>,
) -> Result<Vec<(CliBinary, Vec<u8>)>> {
    let mut out: Vec<(CliBinary, Vec<u8>)> = Vec::new();
    for (platform, path) in binaries {
        let valid_platform = platform
            .split_once('/')
            .is_some_and(|(os, arch)| !os.is_empty() && !arch.is_empty() && !arch.contains('/'));
        if !valid_platform {
            driftless_exit::refuse!(
                "--cli-binary platform `{platform}` is not `os/arch` (e.g. linux/amd64)"
            );
        }
        if out.iter().any(|(b, _)| &b.platform == platform) {
            driftless_exit::refuse!("--cli-binary names platform `{platform}` twice");
        }
        let version = match version_override {
            Some(v) => v.parse::<semver::Version>().map_err(|e| {
                driftless_exit::InvalidInput(format!("--cli-version `{v}` is not semver: {e}"))
            })?,
            None => cli_version_of(path)?,
        };
        let bytes = read_capped(path, driftless_wire::api::MAX_ARTIFACT_BYTES)?;
        out.push((
            CliBinary {
                platform: platform.clone(),
                version,
                digest: Digest::of(&bytes),
                size: bytes.len() as u64,
            },
            bytes,
        ));
    }
    Ok(out)
}

/// Runs `path --version`, which prints `driftless X.Y.Z`.
fn cli_version_of(path: &Path) -> Result<semver::Version> {
    let out = std::process::Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| {
            driftless_exit::InvalidInput(format!(
                "cannot run `{} --version` to learn the CLI's version: {e}",
                path.display()
            ))
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .trim()
        .strip_prefix("driftless ")
        .and_then(|v| v.parse::<semver::Version>().ok());
    match version {
        Some(v) if out.status.success() => Ok(v),
        _ => driftless_exit::refuse!(
            "`{} --version` printed `{}` (exit {:?}), not `driftless X.Y.Z`; is it the driftless CLI?",
            path.display(),
            text.trim(),
            out.status.code()
        ),
    }
}
