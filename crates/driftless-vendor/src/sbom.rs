//! SBOMs of a release: what `publish --sbom SERVICE=FILE` reads and pushes beside each
//! image, and `driftless-vendor release sbom`, which prints or saves them after
//! checking each against the digest the signed release names.

use anyhow::{Context as _, Result};
use driftless_client::VendorClient;
use driftless_oci::RegistryClient;
use driftless_sbom::{SbomFormat, MAX_SBOM_BYTES};
use driftless_wire::release::{sbom_tag, ReleaseDocument, ReleaseImage, SbomRef};
use driftless_wire::{Digest, RELEASE_PAYLOAD_TYPE};
use std::path::{Path, PathBuf};

/// `SERVICE=FILE` of `publish --sbom`.
pub fn parse_sbom_arg(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((service, path)) if !service.is_empty() && !path.is_empty() => {
            Ok((service.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!(
            "`{text}` is not SERVICE=FILE (e.g. web=sbom.cdx.json)"
        )),
    }
}

/// An SBOM `publish` attaches to a service, read and checked.
pub struct AttachedSbom {
    /// The compose service.
    pub service: String,
    /// CycloneDX or SPDX.
    pub format: SbomFormat,
    /// The document as given.
    pub bytes: Vec<u8>,
}

/// Reads every `--sbom SERVICE=FILE`, refusing an unknown or repeated service and a
/// file that is not CycloneDX or SPDX JSON, before anything is uploaded.
pub fn read_sboms(given: &[(String, PathBuf)], services: &[String]) -> Result<Vec<AttachedSbom>> {
    let mut out: Vec<AttachedSbom> = Vec::new();
    for (service, path) in given {
        if !services.contains(service) {
            driftless_exit::refuse!(
                hint = format!("the compose file's services are: {}", services.join(", "));
                "--sbom names service `{service}`, which the compose file does not have"
            );
        }
        if out.iter().any(|s| &s.service == service) {
            driftless_exit::refuse!("--sbom names service `{service}` twice");
        }
        let bytes = read_capped(path)?;
        let sbom = driftless_sbom::parse(&bytes, &path.display().to_string())
            .map_err(|e| driftless_exit::InvalidInput(e.to_string()))?;
        eprintln!(
            "{}: {} SBOM with {} components for service `{service}`",
            path.display(),
            sbom.format.name(),
            sbom.components.len()
        );
        out.push(AttachedSbom {
            service: service.clone(),
            format: sbom.format,
            bytes,
        });
    }
    Ok(out)
}

fn read_capped(path: &Path) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if len > MAX_SBOM_BYTES {
        driftless_exit::refuse!(
            "{} is {len} bytes, larger than the {MAX_SBOM_BYTES}-byte SBOM limit",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Pushes each SBOM beside its service's image (tag `sha256-<hex>.sbom`) and uploads
/// it to the control plane, which reads it at promotion; returns what the release
/// document names.
pub async fn push_sboms(
    registry: &RegistryClient,
    client: &VendorClient,
    images: &[ReleaseImage],
    sboms: Vec<AttachedSbom>,
) -> Result<Vec<SbomRef>> {
    let mut refs = Vec::new();
    for s in sboms {
        let Some(image) = images.iter().find(|i| i.service == s.service) else {
            continue;
        };
        let tag = sbom_tag(&image.digest);
        let media_type = s.format.media_type();
        eprintln!(
            "pushing the SBOM of `{}` as {}:{tag}",
            s.service, image.repository
        );
        let pushed = registry
            .push_sbom_artifact(&image.repository, &tag, media_type, &s.bytes)
            .await?;
        client.upload_artifact(&pushed.digest, s.bytes).await?;
        refs.push(SbomRef {
            service: s.service,
            repository: image.repository.clone(),
            manifest_digest: pushed.manifest_digest,
            digest: pushed.digest,
            size: pushed.size,
            media_type: media_type.to_string(),
        });
    }
    Ok(refs)
}

/// Arguments of `release sbom`.
#[derive(clap::Args, Clone)]
pub struct SbomArgs {
    /// App name.
    #[arg(long)]
    app: String,
    /// The release's version.
    #[arg(long = "version")]
    release_version: String,
    /// Only this service's SBOM.
    #[arg(long)]
    service: Option<String>,
    /// Save each as DIR/<service>.<cyclonedx|spdx>.json instead of printing it.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: Option<PathBuf>,
}

/// Runs `release sbom`.
pub async fn run(args: SbomArgs, client: &VendorClient) -> Result<()> {
    let detail = client.release(&args.app, &args.release_version).await?;
    let doc: ReleaseDocument = detail
        .envelope
        .decode(RELEASE_PAYLOAD_TYPE, "release document")?;
    let chosen: Vec<&SbomRef> = doc
        .sboms
        .iter()
        .filter(|s| args.service.as_ref().is_none_or(|want| &s.service == want))
        .collect();
    if chosen.is_empty() {
        return Err(driftless_exit::Coded(
            driftless_exit::code::NOT_FOUND,
            format!(
                "release {} of `{}` has no SBOM{}",
                args.release_version,
                args.app,
                args.service
                    .as_ref()
                    .map(|s| format!(" for service `{s}`"))
                    .unwrap_or_default()
            ),
        )
        .into());
    }
    if args.output.is_none() && chosen.len() > 1 {
        driftless_exit::refuse!(
            hint = "pass --service NAME to print one, or -o DIR to save them all";
            "release {} has {} SBOMs",
            args.release_version,
            chosen.len()
        );
    }
    for r in chosen {
        let bytes = fetch_verified(client, &args, r).await?;
        save_or_print(args.output.as_deref(), r, &bytes)?;
    }
    Ok(())
}

/// The SBOM's bytes, refused unless they hash to the digest the signed release names.
async fn fetch_verified(client: &VendorClient, args: &SbomArgs, r: &SbomRef) -> Result<Vec<u8>> {
    let bytes = client
        .release_sbom(&args.app, &args.release_version, &r.service)
        .await?;
    if Digest::of(&bytes) != r.digest {
        return Err(driftless_exit::Coded(
            driftless_exit::code::VERIFICATION,
            format!(
                "the SBOM of `{}` hashes to {}, not the {} the signed release names",
                r.service,
                Digest::of(&bytes),
                r.digest
            ),
        )
        .into());
    }
    Ok(bytes)
}

fn save_or_print(dir: Option<&Path>, r: &SbomRef, bytes: &[u8]) -> Result<()> {
    let Some(dir) = dir else {
        use std::io::Write as _;
        std::io::stdout().write_all(bytes)?;
        return Ok(());
    };
    let kind = if r.media_type.contains("spdx") {
        "spdx"
    } else {
        "cyclonedx"
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{}.{kind}.json", r.service));
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "saved the SBOM of `{}` ({}) to {}",
        r.service,
        r.digest,
        path.display()
    );
    Ok(())
}
