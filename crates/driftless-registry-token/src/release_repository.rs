//! Where a release lives in the registry: repositories of its own, named from the app
//! and the release counter (`<app>/r<counter>/<service>` and `<app>/r<counter>/compose`).
//!
//! Registry scopes are per repository, so a token that names release N's repositories
//! pulls release N and nothing else. The vendor CLI names repositories with these
//! functions and the control plane refuses a release or a push token that strays
//! outside them.

use crate::valid_repository_name;

/// The last component of a release's descriptor repository (`<app>/r<counter>/compose`).
pub const DESCRIPTOR_COMPONENT: &str = "compose";

/// `<app>/r<counter>/`: the prefix of every repository of release `counter` of `app`.
pub fn release_prefix(app: &str, counter: u64) -> String {
    format!("{app}/r{counter}/")
}

/// `<app>/r<counter>/<component>`: one repository of release `counter` of `app`.
pub fn release_repository(app: &str, counter: u64, component: &str) -> String {
    format!("{}{component}", release_prefix(app, counter))
}

/// Whether `repo` is a repository of release `counter` of `app`: exactly
/// `<app>/r<counter>/<one component>`, and a name distribution accepts.
pub fn is_release_repository(repo: &str, app: &str, counter: u64) -> bool {
    repo.strip_prefix(&release_prefix(app, counter))
        .is_some_and(|component| !component.is_empty() && !component.contains('/'))
        && valid_repository_name(repo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_one_release_and_one_component() {
        assert_eq!(release_repository("acme", 7, "web"), "acme/r7/web");
        assert_eq!(
            release_repository("acme", 7, DESCRIPTOR_COMPONENT),
            "acme/r7/compose"
        );
        assert!(is_release_repository("acme/r7/web", "acme", 7));
        assert!(is_release_repository("acme/r7/compose", "acme", 7));
    }

    #[test]
    fn refuses_another_release_app_depth_or_a_bad_name() {
        for (repo, why) in [
            ("acme/r6/web", "another release"),
            ("acme/r70/web", "a release whose counter starts the same"),
            ("acme/web", "the app's old shared repository"),
            ("other/r7/web", "another app"),
            ("acme-x/r7/web", "an app whose name starts the same"),
            ("acme/r7/", "no component"),
            ("acme/r7/web/extra", "a nested repository"),
            ("acme/r7/_web", "a name distribution refuses"),
            ("acme/r7/Web", "uppercase"),
        ] {
            assert!(!is_release_repository(repo, "acme", 7), "{repo}: {why}");
        }
    }
}
