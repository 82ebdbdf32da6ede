//! The `x-driftless` config schema: reading it from a compose file and checking values
//! against it.

use std::collections::BTreeSet;

use driftless_wire::release::{ConfigType, ConfigVar};
use serde::Deserialize;
use serde_norway::Value;

use crate::DescriptorError;

/// The top-level key holding Driftless's own settings in a compose file.
pub const EXTENSION_KEY: &str = "x-driftless";

// Both readers parse the whole block, so either can meet a mistake in either part.
pub(crate) const EXTENSION_SHAPE: &str =
    "write it as `x-driftless: {config: [ {name, type, ...} ], health: {timeout_s, settle_s, probe: {url, status}}, jobs: {pre_upgrade: [service], post_upgrade: [service], timeout_s}, data_volumes: [volume], preflight: {cpu_cores, memory_mb, disk_free_mb, docker_api, compose, ports, endpoints, warn_only}}`";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Extension {
    #[serde(default)]
    config: Vec<Value>,
    #[serde(default)]
    health: Option<RawHealth>,
    // Read by `crate::migrations`; accepted here so each reader sees the whole block.
    #[serde(default)]
    #[allow(dead_code)]
    jobs: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    data_volumes: Option<Value>,
    // Read by `crate::preflight`.
    #[serde(default)]
    #[allow(dead_code)]
    preflight: Option<Value>,
    // Read by `crate::analyzers`.
    #[serde(default)]
    #[allow(dead_code)]
    analyzers: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    #[serde(default)]
    timeout_s: Option<u64>,
    #[serde(default)]
    settle_s: Option<u64>,
    #[serde(default)]
    probe: Option<driftless_wire::release::HttpProbe>,
}

/// The `x-driftless.health` settings a compose file declares, each if given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredHealth {
    /// Seconds the host waits for the release to be ready.
    pub timeout_s: Option<u64>,
    /// Seconds a service without a healthcheck must stay up to count as ready.
    pub settle_s: Option<u64>,
    /// The HTTP probe that must answer.
    pub probe: Option<driftless_wire::release::HttpProbe>,
}

/// The `x-driftless.health` settings, checked.
pub(crate) fn health_from_extension(
    ext: Option<&Value>,
) -> Result<DeclaredHealth, DescriptorError> {
    let Some(ext) = ext.filter(|e| !e.is_null()) else {
        return Ok(DeclaredHealth::default());
    };
    let ext: Extension =
        serde_norway::from_value(ext.clone()).map_err(|e| DescriptorError::InvalidSchema {
            reason: e.to_string(),
            hint: Some(EXTENSION_SHAPE),
        })?;
    let Some(h) = ext.health else {
        return Ok(DeclaredHealth::default());
    };
    if let Some(p) = &h.probe {
        if !(p.url.starts_with("http://") || p.url.starts_with("https://"))
            || !(100..600).contains(&p.status)
        {
            return Err(DescriptorError::InvalidSchema {
                reason: format!(
                    "health.probe: `{}` must be an http(s) URL and status a valid HTTP status",
                    p.url
                ),
                hint: None,
            });
        }
    }
    if h.timeout_s == Some(0) {
        return Err(DescriptorError::InvalidSchema {
            reason: "health.timeout_s must be at least 1".into(),
            hint: None,
        });
    }
    if let (Some(settle), Some(timeout)) = (h.settle_s, h.timeout_s) {
        if settle >= timeout {
            return Err(DescriptorError::InvalidSchema {
                reason: format!(
                    "health.settle_s ({settle}) must be shorter than health.timeout_s ({timeout})"
                ),
                hint: None,
            });
        }
    }
    Ok(DeclaredHealth {
        timeout_s: h.timeout_s,
        settle_s: h.settle_s,
        probe: h.probe,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVar {
    name: String,
    #[serde(rename = "type")]
    kind: ConfigType,
    #[serde(default)]
    default: Option<Value>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
    #[serde(default)]
    description: Option<String>,
}

/// Reads and checks the schema from the `x-driftless` value (`None` when absent).
pub(crate) fn schema_from_extension(
    ext: Option<&Value>,
) -> Result<Vec<ConfigVar>, DescriptorError> {
    let Some(ext) = ext else {
        return Ok(Vec::new());
    };
    if ext.is_null() {
        return Ok(Vec::new());
    }
    let ext: Extension =
        serde_norway::from_value(ext.clone()).map_err(|e| DescriptorError::InvalidSchema {
            reason: e.to_string(),
            hint: Some(EXTENSION_SHAPE),
        })?;
    let mut vars = Vec::with_capacity(ext.config.len());
    for (index, item) in ext.config.into_iter().enumerate() {
        let raw: RawVar =
            serde_norway::from_value(item).map_err(|e| DescriptorError::InvalidSchema {
                reason: format!("config[{index}]: {e}"),
                hint: None,
            })?;
        vars.push(to_config_var(raw, index)?);
    }
    check_schema(&vars)?;
    Ok(vars)
}

fn to_config_var(raw: RawVar, index: usize) -> Result<ConfigVar, DescriptorError> {
    let default = match raw.default {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Some(_) => {
            return Err(DescriptorError::InvalidSchema {
                reason: format!(
                    "config[{index}] (`{}`): default must be a string, whole number or boolean",
                    raw.name
                ),
                hint: Some("quote it"),
            })
        }
    };
    Ok(ConfigVar {
        name: raw.name,
        kind: raw.kind,
        default,
        required: raw.required,
        secret: raw.secret,
        description: raw.description,
    })
}

/// Checks names, duplicates, secrets and defaults of a schema, wherever it came from.
pub(crate) fn check_schema(vars: &[ConfigVar]) -> Result<(), DescriptorError> {
    let mut seen = BTreeSet::new();
    for var in vars {
        if !is_valid_variable_name(&var.name) {
            return Err(DescriptorError::InvalidVariableName(var.name.clone()));
        }
        if !seen.insert(var.name.as_str()) {
            return Err(DescriptorError::DuplicateVariable(var.name.clone()));
        }
        if let Some(default) = &var.default {
            if var.secret {
                return Err(DescriptorError::SecretWithDefault(var.name.clone()));
            }
            check_kind(var.kind, default).map_err(|reason| DescriptorError::InvalidDefault {
                name: var.name.clone(),
                kind: var.kind.name(),
                value: default.clone(),
                reason,
            })?;
        }
    }
    Ok(())
}

/// Whether `name` matches `[A-Z_][A-Z0-9_]*`.
pub fn is_valid_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Validates one value against its declared type.
///
/// integer = i64, boolean = `true`|`false`, port = 1..=65535 (numbers in canonical form),
/// string = no newline, carriage return or NUL. A secret's value is never shown.
pub fn validate_value(var: &ConfigVar, value: &str) -> Result<(), DescriptorError> {
    check_kind(var.kind, value).map_err(|reason| DescriptorError::InvalidValue {
        name: var.name.clone(),
        kind: var.kind.name(),
        shown: if var.secret {
            "the secret value (not shown) ".to_string()
        } else {
            format!("`{}` ", value.escape_debug())
        },
        reason,
    })
}

/// Why `value` is not a valid `kind`, if it is not.
fn check_kind(kind: ConfigType, value: &str) -> Result<(), &'static str> {
    match kind {
        ConfigType::String => {
            if value.contains(['\n', '\r']) {
                Err("contains a line break")
            } else if value.contains('\0') {
                Err("contains a NUL character")
            } else {
                Ok(())
            }
        }
        ConfigType::Integer => match value.parse::<i64>() {
            Ok(n) if n.to_string() == value => Ok(()),
            _ => Err("is not a whole number like 42 or -7 (no sign `+`, no leading zeros)"),
        },
        ConfigType::Boolean => match value {
            "true" | "false" => Ok(()),
            _ => Err("is not `true` or `false`"),
        },
        ConfigType::Port => match value.parse::<u16>() {
            Ok(p) if p >= 1 && p.to_string() == value => Ok(()),
            _ => Err("is not a port between 1 and 65535"),
        },
    }
}
