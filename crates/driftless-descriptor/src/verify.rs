//! Client side: checking a descriptor fetched from the registry against the signed
//! release document before anything from it is used.

use std::collections::{BTreeMap, BTreeSet};

use driftless_wire::release::{ConfigVar, ReleaseDocument, ReleaseImage};

use crate::{ComposeFile, DescriptorError};

/// Checks the descriptor against the signed release and returns the parsed file.
///
/// The bytes must have the release's descriptor digest and size; the services must be
/// exactly the release's; each service's image must be exactly `<repository>@<digest>` of
/// the release's image for it; the `x-driftless` schema must equal the release's
/// `config_schema` and its jobs and data volumes the release's; and every interpolated variable must be declared.
pub fn verify_against_release(
    yaml: &[u8],
    release: &ReleaseDocument,
) -> Result<ComposeFile, DescriptorError> {
    let size = u64::try_from(yaml.len()).unwrap_or(u64::MAX);
    if size != release.descriptor.size {
        return Err(DescriptorError::DescriptorMismatch(format!(
            "it is {size} bytes, the release says {}",
            release.descriptor.size
        )));
    }
    if !release.descriptor.digest.matches(yaml) {
        return Err(DescriptorError::DescriptorMismatch(format!(
            "its digest is not {}",
            release.descriptor.digest
        )));
    }
    let file = ComposeFile::parse(yaml)?;
    check_images(&file, &release.images)?;
    check_schema_equal(&file.config_schema()?, &release.config_schema)?;
    if file.migrations()? != release.migrations {
        return Err(DescriptorError::SchemaMismatch(
            "x-driftless jobs or data_volumes differ from the release's".into(),
        ));
    }
    file.check_variables_declared()?;
    Ok(file)
}

fn check_images(file: &ComposeFile, images: &[ReleaseImage]) -> Result<(), DescriptorError> {
    let mut expected: BTreeMap<&str, &ReleaseImage> = BTreeMap::new();
    for image in images {
        if expected.insert(image.service.as_str(), image).is_some() {
            return Err(DescriptorError::ServicesMismatch(format!(
                "the release lists service `{}` twice",
                image.service
            )));
        }
    }
    let found = file.services();
    let found_names: BTreeSet<&str> = found.iter().map(|f| f.service.as_str()).collect();
    let missing: Vec<&str> = expected
        .keys()
        .copied()
        .filter(|s| !found_names.contains(s))
        .collect();
    let extra: Vec<&str> = found_names
        .iter()
        .copied()
        .filter(|s| !expected.contains_key(s))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(DescriptorError::ServicesMismatch(format!(
            "missing from the descriptor: [{}]; not in the release: [{}]",
            missing.join(", "),
            extra.join(", ")
        )));
    }
    for service in &found {
        let want = expected
            .get(service.service.as_str())
            .map(|i| i.pinned())
            .unwrap_or_default();
        if service.image != want {
            return Err(DescriptorError::ImageMismatch {
                service: service.service.clone(),
                expected: want,
                found: service.image.clone(),
            });
        }
    }
    Ok(())
}

fn check_schema_equal(found: &[ConfigVar], signed: &[ConfigVar]) -> Result<(), DescriptorError> {
    if found == signed {
        return Ok(());
    }
    let names = |vars: &[ConfigVar]| {
        vars.iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let detail = match found.iter().zip(signed).find(|(a, b)| a != b) {
        Some((a, b)) if a.name == b.name => {
            format!("variable `{}` is declared differently", a.name)
        }
        _ => format!(
            "descriptor declares [{}], release declares [{}]",
            names(found),
            names(signed)
        ),
    };
    Err(DescriptorError::SchemaMismatch(detail))
}
