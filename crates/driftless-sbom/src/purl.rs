//! Package URLs (`pkg:type/namespace/name@version?qualifiers#subpath`), as far as
//! matching needs them.

/// A parsed package URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purl {
    /// The package type, lowercase (`deb`, `apk`, `npm`, `cargo`, ...).
    pub kind: String,
    /// The namespace, percent-decoded (`debian`, `@scope`, a Maven group).
    pub namespace: Option<String>,
    /// The name, percent-decoded.
    pub name: String,
    /// The version, percent-decoded.
    pub version: Option<String>,
}

impl Purl {
    /// Parses `text`; `None` when it is not a package URL.
    pub fn parse(text: &str) -> Option<Purl> {
        let rest = text.strip_prefix("pkg:")?.trim_start_matches('/');
        let rest = rest.split('#').next().unwrap_or(rest);
        let rest = rest.split('?').next().unwrap_or(rest);
        let (path, version) = match rest.rfind('@') {
            Some(at) if at > rest.rfind('/').unwrap_or(0) => {
                (&rest[..at], Some(decode(&rest[at + 1..])))
            }
            _ => (rest, None),
        };
        let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        if parts.len() < 2 {
            return None;
        }
        let kind = parts.remove(0).to_ascii_lowercase();
        let name = decode(parts.pop()?);
        let namespace = (!parts.is_empty()).then(|| decode(&parts.join("/")));
        Some(Purl {
            kind,
            namespace,
            name,
            version,
        })
    }

    /// The key a package is matched by: type and name, with the namespace where it is
    /// part of the name (not for distribution packages, whose namespace is the distro).
    pub fn match_key(&self) -> String {
        let full = match (&self.namespace, self.kind.as_str()) {
            (Some(ns), kind) if !matches!(kind, "deb" | "apk" | "rpm") => {
                format!("{ns}/{}", self.name)
            }
            _ => self.name.clone(),
        };
        package_key(&self.kind, &full)
    }
}

/// The match key of package `name` of purl type `kind`, normalised the way the
/// ecosystem compares names.
pub fn package_key(kind: &str, name: &str) -> String {
    let name = match kind {
        "pypi" => name.to_ascii_lowercase().replace(['_', '.'], "-"),
        "maven" => name.replace(':', "/"),
        "deb" | "apk" | "rpm" | "npm" | "cargo" => name.to_ascii_lowercase(),
        _ => name.to_string(),
    };
    format!("{kind}/{name}")
}

/// Percent-decodes `text`; a malformed escape is kept as written.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_namespace_name_and_version() {
        let p = Purl::parse("pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64").unwrap();
        assert_eq!(p.kind, "deb");
        assert_eq!(p.namespace.as_deref(), Some("debian"));
        assert_eq!(p.name, "openssl");
        assert_eq!(p.version.as_deref(), Some("3.0.11-1~deb12u2"));
        assert_eq!(p.match_key(), "deb/openssl");
        let npm = Purl::parse("pkg:npm/%40angular/core@1.0.0").unwrap();
        assert_eq!(npm.match_key(), "npm/@angular/core");
        assert!(Purl::parse("openssl").is_none());
    }
}
