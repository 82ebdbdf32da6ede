//! `x-driftless.analyzers`: known problems a release can name in a support bundle, each
//! a pattern matched against the log lines of one service (or of every service) and
//! the message shown when it matches.

use std::collections::BTreeSet;

use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_norway::Value;

use crate::schema::EXTENSION_KEY;
use crate::{ComposeFile, DescriptorError};

/// The largest compiled pattern accepted, so a pattern cannot make analysis slow
/// (the regex engine matches in time linear in the input).
const MAX_PATTERN_BYTES: usize = 1 << 20;

const SHAPE: &str =
    "write it as `x-driftless: {analyzers: [ {name, service (optional), pattern, message} ]}`";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnalyzer {
    name: String,
    #[serde(default)]
    service: Option<String>,
    pattern: String,
    message: String,
}

/// One analyzer: when `pattern` matches a log line of `service` (every service when
/// `None`), the bundle shows `message`.
#[derive(Debug, Clone)]
pub struct Analyzer {
    /// A short name for the known problem.
    pub name: String,
    /// The service whose log is searched; every service's when `None`.
    pub service: Option<String>,
    /// The compiled pattern.
    pub pattern: Regex,
    /// What to tell the person reading the bundle.
    pub message: String,
}

fn invalid(reason: String) -> DescriptorError {
    DescriptorError::InvalidSchema {
        reason,
        hint: Some(SHAPE),
    }
}

impl ComposeFile {
    /// The analyzers declared under `x-driftless.analyzers`, checked: each has a
    /// unique non-empty name and a message, its pattern compiles, and the service it
    /// names is a service of the file.
    pub fn analyzers(&self) -> Result<Vec<Analyzer>, DescriptorError> {
        let raw = match self
            .root()
            .get(EXTENSION_KEY)
            .and_then(Value::as_mapping)
            .and_then(|ext| ext.get("analyzers"))
        {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(v) => v.clone(),
        };
        let raw: Vec<RawAnalyzer> =
            serde_norway::from_value(raw).map_err(|e| invalid(format!("analyzers: {e}")))?;
        let services: BTreeSet<String> = self.services().into_iter().map(|s| s.service).collect();
        let mut names = BTreeSet::new();
        raw.into_iter()
            .map(|a| {
                if a.name.trim().is_empty() || a.message.trim().is_empty() {
                    return Err(invalid(
                        "analyzers: every analyzer needs a name and a message".into(),
                    ));
                }
                if !names.insert(a.name.clone()) {
                    return Err(invalid(format!("analyzers: `{}` is named twice", a.name)));
                }
                check_service(&a, &services)?;
                let pattern = compile(&a.name, &a.pattern)?;
                Ok(Analyzer {
                    name: a.name,
                    service: a.service,
                    pattern,
                    message: a.message,
                })
            })
            .collect()
    }
}

fn check_service(a: &RawAnalyzer, services: &BTreeSet<String>) -> Result<(), DescriptorError> {
    match &a.service {
        Some(s) if !services.contains(s) => Err(invalid(format!(
            "analyzers: `{}` names service `{s}`, which is not a service of this file",
            a.name
        ))),
        _ => Ok(()),
    }
}

fn compile(name: &str, pattern: &str) -> Result<Regex, DescriptorError> {
    RegexBuilder::new(pattern)
        .size_limit(MAX_PATTERN_BYTES)
        .build()
        .map_err(|e| {
            invalid(format!(
                "analyzers: the pattern of `{name}` is not valid: {e}"
            ))
        })
}

impl Analyzer {
    /// Whether this analyzer looks at the log of `service`.
    pub fn applies_to(&self, service: &str) -> bool {
        self.service.as_deref().is_none_or(|s| s == service)
    }
}
