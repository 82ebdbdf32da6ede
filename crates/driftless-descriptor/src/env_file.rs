//! The env file compose reads for interpolation, written so compose 1.29 (python-dotenv)
//! and compose v2 (compose-go's dotenv) both read every value back exactly.
//!
//! What the two parsers agree on: an unquoted value made only of "safe" characters (and
//! quotes that do not open it) is literal. Anything else goes in single quotes, where compose v2 is literal but
//! python-dotenv still turns `\\` into `\` and `\'` into `'`, and still expands `${...}`.
//! A value that needs quoting and contains `'`, `\\`, a trailing `\` or `${...}` has no
//! spelling both read alike, so it is refused.

use std::collections::{BTreeMap, BTreeSet};

use driftless_wire::release::ConfigVar;

use crate::schema::check_schema;
use crate::{validate_value, DescriptorError};

/// The first line of every env file this crate writes.
pub const ENV_FILE_HEADER: &str =
    "# Written by driftless; change values with `driftless config set NAME=value`.";

/// The env file: one `NAME=value` line per declared variable, from `values` or the default.
///
/// A variable with neither a value nor a default is written empty unless it is required,
/// which is an error. Unknown keys in `values` are an error.
pub fn render_env_file(
    schema: &[ConfigVar],
    values: &BTreeMap<String, String>,
) -> Result<String, DescriptorError> {
    check_schema(schema)?;
    let declared: BTreeSet<&str> = schema.iter().map(|v| v.name.as_str()).collect();
    if let Some(unknown) = values.keys().find(|k| !declared.contains(k.as_str())) {
        let list: Vec<&str> = schema.iter().map(|v| v.name.as_str()).collect();
        return Err(DescriptorError::UnknownKey {
            name: unknown.clone(),
            declared: if list.is_empty() {
                "nothing".to_string()
            } else {
                list.join(", ")
            },
        });
    }
    let mut out = String::from(ENV_FILE_HEADER);
    out.push('\n');
    for var in schema {
        let value = match (values.get(&var.name), &var.default) {
            (Some(v), _) | (None, Some(v)) => v.as_str(),
            (None, None) if var.required => {
                return Err(DescriptorError::MissingRequired(var.name.clone()))
            }
            (None, None) => "",
        };
        validate_value(var, value)?;
        out.push_str(&var.name);
        out.push('=');
        out.push_str(&encode(&var.name, value)?);
        out.push('\n');
    }
    Ok(out)
}

/// Appends variables that are not the customer's to set (a license's entitlements,
/// from the signed assignment) to an env file [`render_env_file`] made. They come
/// last, so a release that declared the same name still sees the signed value.
pub fn append_env_vars<'a>(
    out: &mut String,
    vars: impl IntoIterator<Item = (String, &'a str)>,
) -> Result<(), DescriptorError> {
    for (name, value) in vars {
        if !crate::is_valid_variable_name(&name) {
            return Err(DescriptorError::InvalidVariableName(name));
        }
        let encoded = encode(&name, value)?;
        out.push_str(&name);
        out.push('=');
        out.push_str(&encoded);
        out.push('\n');
    }
    Ok(())
}

/// Characters both parsers read literally in an unquoted value.
fn is_safe_unquoted(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-./:@+,=%".contains(c)
}

/// Whether `value` can be written without quotes: quotes are literal unless they open it.
fn can_stay_unquoted(value: &str) -> bool {
    !value.starts_with(['\'', '"'])
        && value
            .chars()
            .all(|c| is_safe_unquoted(c) || c == '\'' || c == '"')
}

fn encode(name: &str, value: &str) -> Result<String, DescriptorError> {
    if can_stay_unquoted(value) {
        return Ok(value.to_string());
    }
    let refuse = |reason| {
        Err(DescriptorError::Unrepresentable {
            name: name.to_string(),
            reason,
        })
    };
    if value.contains(['\n', '\r', '\0']) {
        return refuse("it contains a line break or NUL");
    }
    if value.contains('\'') {
        return refuse(
            "it contains a single quote (`'`) together with characters that need quoting",
        );
    }
    if value.contains("\\\\") || value.ends_with('\\') {
        return refuse(
            "it contains `\\\\` or ends with `\\`, which compose 1.29 and v2 read differently",
        );
    }
    if has_braced_variable(value) {
        return refuse("it contains `${...}`, which compose 1.29 expands even inside quotes");
    }
    Ok(format!("'{value}'"))
}

/// Whether python-dotenv would expand something in `value`: a `${` with a `}` after it.
fn has_braced_variable(value: &str) -> bool {
    value
        .find("${")
        .is_some_and(|start| value[start..].contains('}'))
}
