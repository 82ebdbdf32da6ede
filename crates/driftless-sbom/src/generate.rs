//! A minimal CycloneDX SBOM built from what an image's package databases say: Debian's
//! `var/lib/dpkg/status` (and distroless `status.d/` files, same format) and Alpine's
//! `lib/apk/db/installed`. It sees only packages the package manager installed.

use serde_json::json;

use crate::Component;

/// Installed packages of a dpkg status file (or one `status.d/` file).
pub fn dpkg_status(text: &str) -> Vec<Component> {
    paragraphs(text, ':')
        .into_iter()
        .filter(|p| field(p, "Status").is_none_or(|s| s.ends_with(" installed")))
        .filter_map(|p| {
            let name = field(&p, "Package")?;
            let version = field(&p, "Version")?;
            let arch = field(&p, "Architecture").unwrap_or("all");
            Some(Component {
                purl: Some(format!("pkg:deb/debian/{name}@{version}?arch={arch}")),
                name: name.to_string(),
                version: Some(version.to_string()),
                licences: Vec::new(),
            })
        })
        .collect()
}

/// Installed packages of an apk `installed` database.
pub fn apk_installed(text: &str) -> Vec<Component> {
    paragraphs(text, ':')
        .into_iter()
        .filter_map(|p| {
            let name = field(&p, "P")?;
            let version = field(&p, "V")?;
            let arch = field(&p, "A").unwrap_or("noarch");
            Some(Component {
                purl: Some(format!("pkg:apk/alpine/{name}@{version}?arch={arch}")),
                name: name.to_string(),
                version: Some(version.to_string()),
                licences: field(&p, "L").map(str::to_string).into_iter().collect(),
            })
        })
        .collect()
}

/// Blank-line separated paragraphs of `Key<sep>value` lines (continuations dropped).
fn paragraphs(text: &str, sep: char) -> Vec<Vec<(&str, &str)>> {
    let mut out = vec![Vec::new()];
    for line in text.lines() {
        if line.trim().is_empty() {
            out.push(Vec::new());
        } else if let Some((k, v)) = line.split_once(sep).filter(|_| !line.starts_with(' ')) {
            if let Some(last) = out.last_mut() {
                last.push((k, v.trim()));
            }
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

fn field<'a>(p: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A CycloneDX 1.5 JSON document listing `components`, describing `subject` (the
/// image reference). Deterministic: no serial number or timestamp, so the same image
/// gives the same bytes and digest.
pub fn cyclonedx_json(subject: &str, components: &[Component]) -> Vec<u8> {
    let subject = Subject {
        kind: "container",
        name: subject,
        version: None,
        tool: "driftless-vendor publish",
    };
    cyclonedx_json_for(&subject, components)
}

/// What a CycloneDX document describes, and the tool that wrote it.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// Its CycloneDX component type (`container`, `application`).
    pub kind: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its version, when it has one.
    pub version: Option<&'a str>,
    /// The tool named in the document's metadata.
    pub tool: &'a str,
}

/// A CycloneDX 1.5 JSON document listing `components`, describing `subject`.
/// Deterministic like [`cyclonedx_json`].
pub fn cyclonedx_json_for(subject: &Subject<'_>, components: &[Component]) -> Vec<u8> {
    let list: Vec<serde_json::Value> = components
        .iter()
        .map(|c| {
            let mut v = json!({"type": "library", "name": c.name});
            if let Some(version) = &c.version {
                v["version"] = json!(version);
            }
            if let Some(purl) = &c.purl {
                v["purl"] = json!(purl);
            }
            if !c.licences.is_empty() {
                let l: Vec<_> = c
                    .licences
                    .iter()
                    .map(|l| json!({"expression": l}))
                    .collect();
                v["licenses"] = json!(l);
            }
            v
        })
        .collect();
    let mut component = json!({"type": subject.kind, "name": subject.name});
    if let Some(version) = subject.version {
        component["version"] = json!(version);
    }
    let doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "tools": [{"name": subject.tool}],
            "component": component
        },
        "components": list,
    });
    // Serialising a `Value` cannot fail (no non-string keys, no custom Serialize).
    serde_json::to_vec_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dpkg_and_apk_databases_and_round_trips_through_cyclonedx() {
        let dpkg = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nArchitecture: amd64\nDescription: x\n continued\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n";
        let debs = dpkg_status(dpkg);
        assert_eq!(debs.len(), 1);
        assert_eq!(
            debs[0].purl.as_deref(),
            Some("pkg:deb/debian/libc6@2.36-9?arch=amd64")
        );
        let apk = "C:Q1abc\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\n\nP:busybox\nV:1.36.1-r5\n";
        let apks = apk_installed(apk);
        assert_eq!(apks.len(), 2);
        assert_eq!(apks[0].licences, vec!["MIT"]);
        let bytes = cyclonedx_json("acme/web", &[debs, apks].concat());
        let back = crate::parse(&bytes, "generated").unwrap();
        assert_eq!(back.components.len(), 3);
        assert_eq!(bytes, cyclonedx_json("acme/web", &back.components));
    }
}
