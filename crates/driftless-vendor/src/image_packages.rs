//! The SBOM `publish` builds for a service whose vendor gave none: the image is
//! exported from the local engine (`docker save` format, legacy or OCI layout) and its
//! layers are read, in order, for the package managers' own databases: Debian's
//! `var/lib/dpkg/status` and `status.d/` (distroless), Alpine's `lib/apk/db/installed`.
//! What no package manager installed (a static binary, a vendored library, a language
//! package) is not seen, and a whiteout that deletes a database is not followed.

use anyhow::{anyhow, Context as _, Result};
use driftless_sbom::{apk_installed, cyclonedx_json, dpkg_status, Component, SbomFormat};
use futures_util::StreamExt as _;
use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read, Seek as _, SeekFrom, Write as _};

use crate::publish::PlannedImage;
use crate::push::Engine;
use crate::sbom::AttachedSbom;

/// The largest package database read from a layer.
const MAX_DATABASE_BYTES: u64 = 64 << 20;

/// A generated SBOM for every planned service that has none in `given`.
pub async fn generate_missing(
    engine: &Engine,
    plan: &[PlannedImage],
    given: &[AttachedSbom],
) -> Result<Vec<AttachedSbom>> {
    let mut out = Vec::new();
    for p in plan {
        let (service, image) = (&p.service.service, &p.service.image);
        if given.iter().any(|g| &g.service == service) {
            continue;
        }
        let file = export(engine, image).await?;
        let components = tokio::task::spawn_blocking(move || packages_of_saved_image(file))
            .await?
            .with_context(|| format!("cannot read the package databases of image `{image}`"))?;
        if components.is_empty() {
            eprintln!("image `{image}` has no Debian or Alpine package database: no SBOM for service `{service}` (pass --sbom {service}=FILE)");
            continue;
        }
        eprintln!(
            "built a CycloneDX SBOM of {} packages for service `{service}` from image `{image}`",
            components.len()
        );
        out.push(AttachedSbom {
            service: service.clone(),
            format: SbomFormat::CycloneDx,
            bytes: cyclonedx_json(image, &components),
        });
    }
    Ok(out)
}

/// The image as `docker save` writes it, in an unnamed temporary file.
async fn export(engine: &Engine, image: &str) -> Result<std::fs::File> {
    let mut file = tempfile::tempfile().context("cannot create a temporary file")?;
    let mut stream = engine.docker.export_image(image);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| anyhow!("cannot export image `{image}`: {e}"))?;
        file.write_all(&chunk)?;
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

/// What one layer holds of the package databases.
#[derive(Default)]
struct LayerDatabases {
    dpkg: Option<String>,
    dpkg_parts: BTreeMap<String, String>,
    apk: Option<String>,
}

/// Every package the image's package databases list, upper layers overriding lower.
fn packages_of_saved_image(mut file: std::fs::File) -> Result<Vec<Component>> {
    let layers = layer_paths(&mut file)?;
    file.seek(SeekFrom::Start(0))?;
    let mut found: BTreeMap<String, LayerDatabases> = BTreeMap::new();
    for entry in tar::Archive::new(&mut file).entries()? {
        let entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        if layers.contains(&path) && !found.contains_key(&path) {
            found.insert(path, read_layer(entry)?);
        }
    }
    let mut merged = LayerDatabases::default();
    for layer in layers.iter().filter_map(|l| found.remove(l)) {
        merged.dpkg = layer.dpkg.or(merged.dpkg);
        merged.apk = layer.apk.or(merged.apk);
        merged.dpkg_parts.extend(layer.dpkg_parts);
    }
    let mut out = merged.dpkg.as_deref().map(dpkg_status).unwrap_or_default();
    for text in merged.dpkg_parts.values() {
        out.extend(dpkg_status(text));
    }
    out.extend(merged.apk.as_deref().map(apk_installed).unwrap_or_default());
    Ok(out)
}

/// The layers' paths inside the saved image, bottom first, from `manifest.json`.
fn layer_paths(file: &mut std::fs::File) -> Result<Vec<String>> {
    for entry in tar::Archive::new(file).entries()? {
        let mut entry = entry?;
        if entry.path()?.to_string_lossy() != "manifest.json" {
            continue;
        }
        let mut text = String::new();
        entry.read_to_string(&mut text)?;
        let manifest: serde_json::Value = serde_json::from_str(&text)?;
        let layers = manifest
            .pointer("/0/Layers")
            .and_then(|l| l.as_array())
            .ok_or_else(|| anyhow!("the saved image's manifest.json lists no layers"))?;
        return Ok(layers
            .iter()
            .filter_map(|l| l.as_str().map(str::to_string))
            .collect());
    }
    Err(anyhow!("the saved image has no manifest.json"))
}

/// The package databases in one layer (a tar, gzip-compressed or not).
fn read_layer(entry: impl Read) -> Result<LayerDatabases> {
    let mut reader = BufReader::new(entry);
    let gzip = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let inner: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut found = LayerDatabases::default();
    for entry in tar::Archive::new(inner).entries()? {
        let entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let path = path.trim_start_matches("./").trim_start_matches('/');
        let slot = match path {
            "var/lib/dpkg/status" => &mut found.dpkg,
            "lib/apk/db/installed" => &mut found.apk,
            p if p.starts_with("var/lib/dpkg/status.d/") && !p.ends_with(".md5sums") => {
                let name = p.to_string();
                let text = read_text(entry)?;
                found.dpkg_parts.insert(name, text);
                continue;
            }
            _ => continue,
        };
        *slot = Some(read_text(entry)?);
    }
    Ok(found)
}

fn read_text(entry: impl Read) -> Result<String> {
    let mut bytes = Vec::new();
    entry.take(MAX_DATABASE_BYTES).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
