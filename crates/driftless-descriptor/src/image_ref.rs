//! Image reference checks: pinned-by-digest references and distribution's repository
//! grammar.

use driftless_wire::Digest;

/// Whether `image` is pinned by digest (`name@sha256:<64 lowercase hex>`).
pub fn is_pinned(image: &str) -> bool {
    match image.rsplit_once('@') {
        Some((name, digest)) => {
            !name.is_empty()
                && !name.contains('@')
                && !name.chars().any(|c| c.is_whitespace() || c.is_control())
                && digest.parse::<Digest>().is_ok()
        }
        None => false,
    }
}

/// Whether `name` follows distribution's repository grammar: `/`-separated components of
/// lowercase alphanumerics, with `.`, `_`, `__` or runs of `-` only between them.
pub fn is_valid_repository(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.split('/').all(is_valid_component)
}

fn is_valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    // Between alphanumerics: `.`, `_`, `__`, or any run of `-`.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let run = bytes[i..].iter().take_while(|b| !alnum(**b)).count();
        let sep = &component[i..i + run];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
        i += run;
    }
    true
}

/// Splits a host-less `repository@digest` pin, if it is one.
pub(crate) fn parse_pin(pin: &str) -> Option<(&str, Digest)> {
    let (repository, digest) = pin.split_once('@')?;
    let digest = digest.parse::<Digest>().ok()?;
    is_valid_repository(repository).then_some((repository, digest))
}

/// Whether `host` is a bare registry `host[:port]` docker treats as a registry (it must
/// contain a `.` or `:`, or be `localhost`; otherwise docker reads it as a Docker Hub path).
pub(crate) fn is_valid_registry_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && !port.contains(']') => (name, Some(port)),
        _ => (host, None),
    };
    if let Some(port) = port {
        let port_ok = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !port_ok {
            return false;
        }
    }
    let name_ok = if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    name_ok
        && (port.is_some() || name.contains('.') || name == "localhost" || name.starts_with('['))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn pinned_needs_a_full_sha256() {
        assert!(is_pinned(&format!("acme/web@sha256:{HEX}")));
        assert!(is_pinned(&format!(
            "127.0.0.1:5000/acme/web:1.2@sha256:{HEX}"
        )));
        assert!(!is_pinned("acme/web:latest"));
        assert!(!is_pinned("acme/web@sha256:abc"));
        assert!(!is_pinned(&format!("@sha256:{HEX}")));
        assert!(!is_pinned(&format!(
            "acme/web@sha256:{}",
            HEX.to_uppercase()
        )));
        assert!(!is_pinned(&format!("acme web@sha256:{HEX}")));
    }

    #[test]
    fn repository_grammar_matches_distribution() {
        for ok in ["acme/web", "acme/compose", "a", "a.b/c__d/e---f", "x_y/z9"] {
            assert!(is_valid_repository(ok), "{ok}");
        }
        for bad in [
            "acme/_compose",
            "Acme/web",
            "acme//web",
            "acme/web/",
            "a..b",
            "a___b",
            "-a",
            "a-",
            "host:5000/a",
            "",
        ] {
            assert!(!is_valid_repository(bad), "{bad}");
        }
    }

    #[test]
    fn registry_hosts() {
        for ok in [
            "127.0.0.1:5000",
            "registry.example.com",
            "localhost",
            "localhost:5000",
            "[::1]:5000",
            "reg-1.example.com:443",
        ] {
            assert!(is_valid_registry_host(ok), "{ok}");
        }
        for bad in [
            "",
            "registry",
            "https://r.example.com",
            "r.example.com/path",
            "r.example.com:0",
            "r.example.com:99999",
            "r .example.com",
            "r.example.com:",
        ] {
            assert!(!is_valid_registry_host(bad), "{bad}");
        }
    }
}
