//! The `access` claim and the `type:name:actions` scope strings it comes from.

use crate::{valid_repository_name, TokenError};
use serde::{Deserialize, Serialize};

/// One entry of a token's `access` claim: what may be done to which resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// Resource type, `repository` for images and artifacts.
    #[serde(rename = "type")]
    pub kind: String,
    /// Resource name, e.g. `acme/compose`.
    pub name: String,
    /// Granted actions, e.g. `["pull"]` or `["pull", "push"]`.
    pub actions: Vec<String>,
}

impl Access {
    /// Access of `actions` to the repository `name`.
    pub fn repository(name: &str, actions: &[&str]) -> Self {
        Access {
            kind: "repository".to_string(),
            name: name.to_string(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }
}

/// Parses a scope like `repository:acme/web:pull,push`.
///
/// The type ends at the first `:` and the actions begin after the last one, so a name
/// carrying a registry port (`localhost:5000/x`) stays whole.
pub fn parse_scope(scope: &str) -> Result<Access, TokenError> {
    let bad = |reason: &str| TokenError::Scope {
        scope: scope.to_string(),
        reason: reason.to_string(),
    };
    let (kind, rest) = scope.split_once(':').ok_or_else(|| bad("no `:`"))?;
    let (name, actions) = rest
        .rsplit_once(':')
        .ok_or_else(|| bad("no actions part"))?;
    if kind.is_empty() {
        return Err(bad("empty resource type"));
    }
    if name.is_empty() {
        return Err(bad("empty resource name"));
    }
    if kind == "repository" && !valid_repository_name(name) {
        return Err(bad(
            "the repository name breaks distribution's naming rules",
        ));
    }
    let actions: Vec<String> = actions
        .split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    if actions.is_empty() {
        return Err(bad("no actions"));
    }
    Ok(Access {
        kind: kind.to_string(),
        name: name.to_string(),
        actions,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_repository_scope() {
        assert_eq!(
            parse_scope("repository:acme/web:pull,push"),
            Ok(Access::repository("acme/web", &["pull", "push"]))
        );
        assert_eq!(
            parse_scope("repository:acme/web:pull"),
            Ok(Access::repository("acme/web", &["pull"]))
        );
    }

    #[test]
    fn name_may_contain_colon_for_other_types() {
        let a = parse_scope("registry:catalog:*").unwrap();
        assert_eq!((a.kind.as_str(), a.name.as_str()), ("registry", "catalog"));
        let a = parse_scope("thing:host:5000/x:pull").unwrap();
        assert_eq!(a.name, "host:5000/x");
        assert_eq!(a.actions, vec!["pull"]);
    }

    #[test]
    fn refuses_malformed_scopes() {
        for s in [
            "",
            "repository",
            "repository:acme/web",
            ":acme/web:pull",
            "repository::pull",
            "repository:acme/web:",
            "repository:acme/_web:pull",
            "repository:Acme/web:pull",
        ] {
            assert!(
                matches!(parse_scope(s), Err(TokenError::Scope { .. })),
                "{s:?}"
            );
        }
    }
}
