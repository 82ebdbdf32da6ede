//! A license's entitlements: vendor-defined typed values (`max_users=50`,
//! `feature_sso=true`, `tier=gold`) that reach the host inside the signed assignment
//! and the compose file as read-only variables.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The entitlements of one license, by key (sorted, so a document's bytes are stable).
pub type Entitlements = BTreeMap<String, Entitlement>;

/// The longest entitlement key.
pub const MAX_KEY_CHARS: usize = 64;
/// The longest string value.
pub const MAX_VALUE_CHARS: usize = 256;
/// The most entitlements a license carries.
pub const MAX_ENTITLEMENTS: usize = 64;
/// What an entitlement's compose variable starts with.
pub const ENV_PREFIX: &str = "DRIFTLESS_ENTITLEMENT_";

/// One typed entitlement value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Entitlement {
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Any text.
    Str(String),
}

impl std::fmt::Display for Entitlement {
    /// The value as the compose file sees it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entitlement::Bool(b) => write!(f, "{b}"),
            Entitlement::Int(i) => write!(f, "{i}"),
            Entitlement::Str(s) => f.write_str(s),
        }
    }
}

/// Why an entitlement was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntitlementError {
    /// Not `KEY=VALUE`.
    #[error("entitlement `{0}` is not KEY=VALUE (e.g. max_users=int:50, feature_sso=bool:true)")]
    Syntax(String),
    /// The key has characters other than lowercase letters, digits and `_`.
    #[error("entitlement key `{0}` must be 1 to 64 of a-z, 0-9 and _, starting with a letter")]
    Key(String),
    /// The value does not parse as its type.
    #[error("entitlement `{key}`: `{value}` is not a valid {kind}")]
    Value {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// The type asked for.
        kind: &'static str,
    },
    /// Too many, or a value too long.
    #[error("entitlement `{0}` is too long (values up to 256 characters, 64 entitlements)")]
    TooLarge(String),
}

/// Whether `key` is a valid entitlement key.
pub fn valid_key(key: &str) -> bool {
    key.len() <= MAX_KEY_CHARS
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Parses `KEY=VALUE`, where VALUE is `int:N`, `bool:true|false`, `str:TEXT`, or
/// untyped: `true`/`false` is a bool, a whole number an int, anything else a string.
pub fn parse_assignment(text: &str) -> Result<(String, Entitlement), EntitlementError> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| EntitlementError::Syntax(text.into()))?;
    if !valid_key(key) {
        return Err(EntitlementError::Key(key.into()));
    }
    let bad = |kind| EntitlementError::Value {
        key: key.into(),
        value: value.into(),
        kind,
    };
    let parsed = if let Some(n) = value.strip_prefix("int:") {
        Entitlement::Int(n.parse().map_err(|_| bad("int"))?)
    } else if let Some(b) = value.strip_prefix("bool:") {
        Entitlement::Bool(b.parse().map_err(|_| bad("bool (true or false)"))?)
    } else if let Some(s) = value.strip_prefix("str:") {
        Entitlement::Str(s.into())
    } else if let Ok(b) = value.parse::<bool>() {
        Entitlement::Bool(b)
    } else if let Ok(n) = value.parse::<i64>() {
        Entitlement::Int(n)
    } else {
        Entitlement::Str(value.into())
    };
    if matches!(&parsed, Entitlement::Str(s) if s.chars().count() > MAX_VALUE_CHARS) {
        return Err(EntitlementError::TooLarge(key.into()));
    }
    Ok((key.into(), parsed))
}

/// Checks a whole set: keys valid, values short enough, not too many.
pub fn check(entitlements: &Entitlements) -> Result<(), EntitlementError> {
    if entitlements.len() > MAX_ENTITLEMENTS {
        return Err(EntitlementError::TooLarge(format!(
            "{} entitlements",
            entitlements.len()
        )));
    }
    for (key, value) in entitlements {
        if !valid_key(key) {
            return Err(EntitlementError::Key(key.clone()));
        }
        if matches!(value, Entitlement::Str(s) if s.chars().count() > MAX_VALUE_CHARS) {
            return Err(EntitlementError::TooLarge(key.clone()));
        }
    }
    Ok(())
}

/// The compose variable of entitlement `key`: `max_users` is
/// `DRIFTLESS_ENTITLEMENT_MAX_USERS`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn values_are_typed_explicitly_or_by_their_look() {
        let p = |t| parse_assignment(t).unwrap().1;
        assert_eq!(p("max_users=50"), Entitlement::Int(50));
        assert_eq!(p("max_users=int:50"), Entitlement::Int(50));
        assert_eq!(p("feature_sso=true"), Entitlement::Bool(true));
        assert_eq!(p("feature_sso=bool:false"), Entitlement::Bool(false));
        assert_eq!(p("tier=gold"), Entitlement::Str("gold".into()));
        assert_eq!(p("code=str:50"), Entitlement::Str("50".into()));
        assert_eq!(p("empty="), Entitlement::Str(String::new()));
    }

    #[test]
    fn bad_entitlements_are_refused() {
        for bad in ["novalue", "Max=1", "1x=1", "a-b=1", "n=int:x", "b=bool:yes"] {
            assert!(parse_assignment(bad).is_err(), "{bad}");
        }
        let long = format!("k={}", "x".repeat(MAX_VALUE_CHARS + 1));
        assert!(parse_assignment(&long).is_err());
    }

    #[test]
    fn json_keeps_the_types_and_the_order() {
        let mut e = Entitlements::new();
        e.insert("z".into(), Entitlement::Bool(true));
        e.insert("a".into(), Entitlement::Int(3));
        e.insert("m".into(), Entitlement::Str("7".into()));
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(text, r#"{"a":3,"m":"7","z":true}"#);
        assert_eq!(serde_json::from_str::<Entitlements>(&text).unwrap(), e);
        assert_eq!(env_name("max_users"), "DRIFTLESS_ENTITLEMENT_MAX_USERS");
    }
}
