//! Reading an SBOM: CycloneDX JSON or SPDX JSON (2.x), told apart by their own
//! marker fields, reduced to the components a policy judges.

use serde_json::Value;

use crate::SbomError;

/// The largest SBOM `publish` attaches and the control plane reads.
pub const MAX_SBOM_BYTES: u64 = 16 << 20;

/// Which SBOM standard a document follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SbomFormat {
    /// CycloneDX JSON (`"bomFormat": "CycloneDX"`).
    CycloneDx,
    /// SPDX JSON (`"spdxVersion": "SPDX-2.x"`).
    Spdx,
}

impl SbomFormat {
    /// The media type the document is stored under in the registry.
    pub fn media_type(self) -> &'static str {
        match self {
            SbomFormat::CycloneDx => "application/vnd.cyclonedx+json",
            SbomFormat::Spdx => "application/spdx+json",
        }
    }

    /// The format's short name.
    pub fn name(self) -> &'static str {
        match self {
            SbomFormat::CycloneDx => "cyclonedx",
            SbomFormat::Spdx => "spdx",
        }
    }
}

/// One package the SBOM lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Component {
    /// Its name.
    pub name: String,
    /// Its version, when the SBOM says.
    pub version: Option<String>,
    /// Its package URL, when the SBOM says.
    pub purl: Option<String>,
    /// Its licences, each an SPDX expression (or a name the SBOM gave).
    pub licences: Vec<String>,
}

impl Component {
    /// `name@version`, for reports.
    pub fn label(&self) -> String {
        match &self.version {
            Some(v) => format!("{}@{v}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A parsed SBOM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sbom {
    /// Its standard.
    pub format: SbomFormat,
    /// Every component, nested ones included.
    pub components: Vec<Component>,
}

/// Parses `bytes` as CycloneDX or SPDX JSON; `what` names the document in errors.
pub fn parse(bytes: &[u8], what: &str) -> Result<Sbom, SbomError> {
    let bad = |reason: String| SbomError::NotAnSbom {
        what: what.to_string(),
        reason,
    };
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON ({e})")))?;
    if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        let mut components = Vec::new();
        cyclonedx_components(doc.get("components"), &mut components);
        return Ok(Sbom {
            format: SbomFormat::CycloneDx,
            components,
        });
    }
    let spdx = doc.get("spdxVersion").and_then(Value::as_str);
    if spdx.is_some_and(|v| v.starts_with("SPDX-2.")) {
        let packages = doc.get("packages").and_then(Value::as_array);
        let components = packages.into_iter().flatten().map(spdx_package).collect();
        return Ok(Sbom {
            format: SbomFormat::Spdx,
            components,
        });
    }
    Err(bad(
        "it has neither `\"bomFormat\": \"CycloneDX\"` nor an `spdxVersion` of SPDX-2.x".into(),
    ))
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

fn cyclonedx_components(list: Option<&Value>, out: &mut Vec<Component>) {
    for c in list.and_then(Value::as_array).into_iter().flatten() {
        let licences = c.get("licenses").and_then(Value::as_array);
        let licences = licences.into_iter().flatten().filter_map(|l| {
            text(l, "expression").or_else(|| {
                let lic = l.get("license")?;
                text(lic, "id").or_else(|| text(lic, "name"))
            })
        });
        out.push(Component {
            name: text(c, "name").unwrap_or_default(),
            version: text(c, "version"),
            purl: text(c, "purl"),
            licences: licences.collect(),
        });
        cyclonedx_components(c.get("components"), out);
    }
}

fn spdx_package(p: &Value) -> Component {
    let refs = p.get("externalRefs").and_then(Value::as_array);
    let purl = refs.into_iter().flatten().find_map(|r| {
        (r.get("referenceType").and_then(Value::as_str) == Some("purl"))
            .then(|| text(r, "referenceLocator"))
            .flatten()
    });
    let stated = |key: &str| text(p, key).filter(|l| l != "NOASSERTION" && l != "NONE");
    Component {
        name: text(p, "name").unwrap_or_default(),
        version: text(p, "versionInfo"),
        purl,
        licences: stated("licenseConcluded")
            .or_else(|| stated("licenseDeclared"))
            .into_iter()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cyclonedx_with_nested_components_and_expressions() {
        let doc = br#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[
            {"name":"a","version":"1","purl":"pkg:npm/a@1","licenses":[{"license":{"id":"MIT"}}],
             "components":[{"name":"b","licenses":[{"expression":"MIT OR Apache-2.0"}]}]}]}"#;
        let sbom = parse(doc, "test").unwrap();
        assert_eq!(sbom.format, SbomFormat::CycloneDx);
        assert_eq!(sbom.components.len(), 2);
        assert_eq!(sbom.components[0].purl.as_deref(), Some("pkg:npm/a@1"));
        assert_eq!(sbom.components[1].licences, vec!["MIT OR Apache-2.0"]);
    }

    #[test]
    fn reads_spdx_packages_with_purls() {
        let doc = br#"{"spdxVersion":"SPDX-2.3","packages":[{"name":"zlib","versionInfo":"1.3",
            "licenseConcluded":"NOASSERTION","licenseDeclared":"Zlib",
            "externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl",
            "referenceLocator":"pkg:deb/debian/zlib1g@1.3"}]}]}"#;
        let sbom = parse(doc, "test").unwrap();
        assert_eq!(sbom.format, SbomFormat::Spdx);
        assert_eq!(sbom.components[0].licences, vec!["Zlib"]);
        assert_eq!(
            sbom.components[0].purl.as_deref(),
            Some("pkg:deb/debian/zlib1g@1.3")
        );
    }

    #[test]
    fn refuses_other_json() {
        let err = parse(br#"{"hello":1}"#, "x.json").unwrap_err().to_string();
        assert!(err.contains("x.json is not a CycloneDX or SPDX"), "{err}");
        assert!(parse(b"not json", "y").is_err());
    }
}
