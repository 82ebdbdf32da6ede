//! Client side: the compose file the host actually runs.

use std::collections::BTreeMap;

use serde_norway::Value;

use crate::compose::set_image;
use crate::image_ref::{is_pinned, is_valid_registry_host};
use crate::migrations::JOB_PROFILE;
use crate::schema::EXTENSION_KEY;
use crate::{ComposeFile, DescriptorError};

/// The compose file to run: every image prefixed with `registry_host`, `x-driftless`
/// removed, and every service's `build` removed (the host only runs the release's images,
/// it never builds). Job services get the [`JOB_PROFILE`] profile only, so `up` never
/// starts them and the host runs them by name. Every image must already be pinned by digest.
pub fn render_for_host(
    file: &ComposeFile,
    registry_host: &str,
) -> Result<Vec<u8>, DescriptorError> {
    if !is_valid_registry_host(registry_host) {
        return Err(DescriptorError::InvalidRegistryHost(
            registry_host.to_string(),
        ));
    }
    let services = file.services();
    if let Some(unpinned) = services.iter().find(|s| !is_pinned(&s.image)) {
        return Err(DescriptorError::NotPinned {
            service: unpinned.service.clone(),
            image: unpinned.image.clone(),
        });
    }
    let images: BTreeMap<&str, &str> = services
        .iter()
        .map(|s| (s.service.as_str(), s.image.as_str()))
        .collect();
    let migrations = file.migrations()?;
    let mut rendered = file.clone();
    let root = rendered.root_mut();
    root.shift_remove(EXTENSION_KEY);
    if let Some(Value::Mapping(map)) = root.get_mut("services") {
        for (key, service) in map.iter_mut() {
            let Some(image) = key.as_str().and_then(|k| images.get(k)) else {
                continue;
            };
            set_image(service, format!("{registry_host}/{image}"))?;
            if let Some(settings) = service.as_mapping_mut() {
                settings.shift_remove("build");
                if key.as_str().is_some_and(|k| migrations.is_job(k)) {
                    let profile = Value::Sequence(vec![Value::String(JOB_PROFILE.into())]);
                    settings.insert(Value::String("profiles".into()), profile);
                }
            }
        }
    }
    rendered.to_yaml()
}
