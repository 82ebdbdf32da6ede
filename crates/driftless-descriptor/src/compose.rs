//! The compose file as the vendor wrote it: parsing, its services and images, the
//! variables it interpolates, and pinning its images by digest.

use std::collections::{BTreeMap, BTreeSet};

use driftless_wire::release::ConfigVar;
use serde_norway::{Mapping, Value};

use crate::bounded_yaml::{apply_merge, describe_key, parse_value};
use crate::image_ref::parse_pin;
use crate::interpolation;
use crate::schema::{health_from_extension, schema_from_extension, DeclaredHealth, EXTENSION_KEY};
use crate::{yaml_emit, DescriptorError, MAX_DESCRIPTOR_BYTES};

/// A parsed compose file as the vendor wrote it.
#[derive(Clone, Debug, PartialEq)]
pub struct ComposeFile {
    /// The document, with YAML merge keys (`<<`) applied.
    root: Mapping,
}

/// One service and the image it runs, as written in the compose file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceImage {
    /// The compose service name.
    pub service: String,
    /// The `image:` value.
    pub image: String,
}

/// One variable use: its name and the dotted path of the value using it.
struct Use {
    name: String,
    location: String,
}

impl ComposeFile {
    /// Parses a compose file: it must have a `services` mapping and every service an `image`.
    pub fn parse(yaml: &[u8]) -> Result<Self, DescriptorError> {
        let size = u64::try_from(yaml.len()).unwrap_or(u64::MAX);
        if size > MAX_DESCRIPTOR_BYTES {
            return Err(DescriptorError::TooLarge {
                size,
                max: MAX_DESCRIPTOR_BYTES,
            });
        }
        let mut value = parse_value(yaml)?;
        apply_merge(&mut value)?;
        let Value::Mapping(root) = value else {
            return Err(DescriptorError::NotCompose(
                "the top level must be a mapping with a `services` key".to_string(),
            ));
        };
        let file = ComposeFile { root };
        file.check_services()?;
        Ok(file)
    }

    fn services_mapping(&self) -> Option<&Mapping> {
        self.root.get("services").and_then(Value::as_mapping)
    }

    fn check_services(&self) -> Result<(), DescriptorError> {
        let services = self.services_mapping().ok_or_else(|| {
            DescriptorError::NotCompose("it has no `services` mapping".to_string())
        })?;
        if services.is_empty() {
            return Err(DescriptorError::NotCompose(
                "`services` is empty; a release needs at least one service".to_string(),
            ));
        }
        for (key, service) in services {
            let name = match key {
                Value::String(name) if is_valid_service_name(name) => name,
                other => return Err(DescriptorError::InvalidServiceName(describe_key(other))),
            };
            if !service.is_mapping() && !service.is_null() {
                return Err(DescriptorError::NotCompose(format!(
                    "service `{name}` must be a mapping of compose settings"
                )));
            }
            match service.get("image") {
                None | Some(Value::Null) => {
                    return Err(DescriptorError::MissingImage(name.clone()))
                }
                Some(Value::String(image)) => check_image_text(name, image)?,
                Some(_) => {
                    return Err(DescriptorError::InvalidImage {
                        service: name.clone(),
                        reason: "`image` must be a string".to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Every service and its image string, in file order.
    pub fn services(&self) -> Vec<ServiceImage> {
        let Some(services) = self.services_mapping() else {
            return Vec::new();
        };
        services
            .iter()
            .filter_map(|(name, service)| {
                Some(ServiceImage {
                    service: name.as_str()?.to_string(),
                    image: service.get("image")?.as_str()?.to_string(),
                })
            })
            .collect()
    }

    /// The config schema declared under `x-driftless.config`, checked.
    pub fn config_schema(&self) -> Result<Vec<ConfigVar>, DescriptorError> {
        schema_from_extension(self.root.get(EXTENSION_KEY))
    }

    /// The `x-driftless.health` settings, each if given.
    pub fn health(&self) -> Result<DeclaredHealth, DescriptorError> {
        health_from_extension(self.root.get(EXTENSION_KEY))
    }

    /// Every variable the file interpolates (outside `x-driftless`), in order of first use.
    pub fn variables_used(&self) -> Vec<String> {
        let (uses, _malformed) = self.collect_uses();
        let mut seen = BTreeSet::new();
        uses.into_iter()
            .filter(|u| seen.insert(u.name.clone()))
            .map(|u| u.name)
            .collect()
    }

    /// Checks that every interpolation is well formed and every variable is declared.
    /// A license's entitlements (`DRIFTLESS_ENTITLEMENT_<KEY>`) need no declaration:
    /// the host sets them from the signed assignment.
    pub fn check_variables_declared(&self) -> Result<(), DescriptorError> {
        let (uses, malformed) = self.collect_uses();
        if let Some(err) = malformed {
            return Err(err);
        }
        let schema = self.config_schema()?;
        let declared: BTreeSet<&str> = schema.iter().map(|v| v.name.as_str()).collect();
        match uses.into_iter().find(|u| {
            !declared.contains(u.name.as_str())
                && !u.name.starts_with(driftless_wire::entitlements::ENV_PREFIX)
        }) {
            Some(u) => Err(DescriptorError::UndeclaredVariable {
                name: u.name,
                location: u.location,
            }),
            None => Ok(()),
        }
    }

    fn collect_uses(&self) -> (Vec<Use>, Option<DescriptorError>) {
        let mut uses = Vec::new();
        let mut malformed = None;
        for (key, value) in &self.root {
            if key.as_str() == Some(EXTENSION_KEY) {
                continue;
            }
            walk_strings(value, &describe_key(key), &mut |path, s| {
                let mut names = Vec::new();
                if let Err(m) = interpolation::scan(s, &mut names) {
                    malformed.get_or_insert(DescriptorError::BadInterpolation {
                        location: path.to_string(),
                        text: m.text,
                    });
                }
                uses.extend(names.into_iter().map(|name| Use {
                    name,
                    location: path.to_string(),
                }));
            });
        }
        (uses, malformed)
    }

    /// The YAML with every service's image replaced by its pin; every service needs one.
    pub fn pin_images(&self, pins: &BTreeMap<String, String>) -> Result<Vec<u8>, DescriptorError> {
        let mut pinned = self.clone();
        let services = pinned
            .root
            .get_mut("services")
            .and_then(Value::as_mapping_mut)
            .ok_or_else(|| {
                DescriptorError::NotCompose("it has no `services` mapping".to_string())
            })?;
        let names: BTreeSet<String> = services
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        if let Some(unknown) = pins.keys().find(|k| !names.contains(*k)) {
            return Err(DescriptorError::UnknownPinService(unknown.clone()));
        }
        for (key, service) in services.iter_mut() {
            let name = describe_key(key);
            let pin = pins
                .get(&name)
                .ok_or_else(|| DescriptorError::MissingPin(name.clone()))?;
            if parse_pin(pin).is_none() {
                return Err(DescriptorError::InvalidPin {
                    service: name,
                    pin: pin.clone(),
                });
            }
            set_image(service, pin.clone())?;
        }
        pinned.to_yaml()
    }

    /// The file as YAML bytes, written so compose 1.29 and v2 read exactly this tree.
    pub fn to_yaml(&self) -> Result<Vec<u8>, DescriptorError> {
        yaml_emit::emit_document(&self.root).map(String::into_bytes)
    }

    /// The document root, for the crate's readers.
    pub(crate) fn root(&self) -> &Mapping {
        &self.root
    }

    /// The document root, for the crate's renderers.
    pub(crate) fn root_mut(&mut self) -> &mut Mapping {
        &mut self.root
    }
}

/// Replaces a service's `image`, keeping its place in the mapping.
pub(crate) fn set_image(service: &mut Value, image: String) -> Result<(), DescriptorError> {
    match service.get_mut("image") {
        Some(slot) => {
            *slot = Value::String(image);
            Ok(())
        }
        None => Err(DescriptorError::NotCompose(
            "a service lost its image".to_string(),
        )),
    }
}

/// Calls `f` with the dotted path and text of every string value under `value`.
fn walk_strings(value: &Value, path: &str, f: &mut dyn FnMut(&str, &str)) {
    match value {
        Value::String(s) => f(path, s),
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_strings(item, &format!("{path}[{i}]"), f);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map {
                walk_strings(v, &format!("{path}.{}", describe_key(k)), f);
            }
        }
        Value::Tagged(tagged) => walk_strings(&tagged.value, path, f),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Compose's service-name grammar: `[a-zA-Z0-9._-]+`.
fn is_valid_service_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn check_image_text(service: &str, image: &str) -> Result<(), DescriptorError> {
    let reason = if image.is_empty() {
        "it is empty"
    } else if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "it contains whitespace"
    } else {
        return Ok(());
    };
    Err(DescriptorError::InvalidImage {
        service: service.to_string(),
        reason: reason.to_string(),
    })
}
