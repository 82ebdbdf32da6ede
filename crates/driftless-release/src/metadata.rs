//! The crates a set of workspace packages link, read from `cargo metadata` JSON: the
//! packages reachable from them through normal dependencies on the platform the
//! metadata was filtered for. Build and dev dependencies are left out: they run at
//! build time or in tests and are not in the binaries.

use driftless_sbom::Component;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// Why `cargo metadata` output could not be turned into components.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Not the JSON `cargo metadata --format-version 1` prints.
    #[error("cannot read the cargo metadata: {0}")]
    Json(#[from] serde_json::Error),
    /// It was printed with `--no-deps`, so it has no dependency graph.
    #[error("the cargo metadata has no dependency graph (was it made with --no-deps?)")]
    NoResolve,
    /// A root the caller named is not a workspace member.
    #[error("`{0}` is not a package of this workspace")]
    UnknownRoot(String),
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    resolve: Option<Resolve>,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
    version: String,
    license: Option<String>,
    source: Option<String>,
}

#[derive(Deserialize)]
struct Resolve {
    nodes: Vec<Node>,
}

#[derive(Deserialize)]
struct Node {
    id: String,
    deps: Vec<NodeDep>,
}

#[derive(Deserialize)]
struct NodeDep {
    pkg: String,
    dep_kinds: Vec<DepKind>,
}

#[derive(Deserialize)]
struct DepKind {
    /// `None` for a normal dependency, else `"dev"` or `"build"`.
    kind: Option<String>,
}

/// The packages the workspace members named in `roots` link (the roots included),
/// sorted by name and version so the SBOM's bytes depend only on the lock file.
pub fn linked_components(metadata: &[u8], roots: &[&str]) -> Result<Vec<Component>, MetadataError> {
    let meta: Metadata = serde_json::from_slice(metadata)?;
    let resolve = meta.resolve.as_ref().ok_or(MetadataError::NoResolve)?;
    let packages: BTreeMap<&str, &Package> =
        meta.packages.iter().map(|p| (p.id.as_str(), p)).collect();
    let nodes: BTreeMap<&str, &Node> = resolve.nodes.iter().map(|n| (n.id.as_str(), n)).collect();

    let mut todo = Vec::new();
    for root in roots {
        let id = meta
            .workspace_members
            .iter()
            .find(|id| packages.get(id.as_str()).is_some_and(|p| p.name == *root))
            .ok_or_else(|| MetadataError::UnknownRoot((*root).to_string()))?;
        todo.push(id.as_str());
    }
    let mut seen = BTreeSet::new();
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(node) = nodes.get(id) else { continue };
        for dep in &node.deps {
            if dep.dep_kinds.iter().any(|k| k.kind.is_none()) {
                todo.push(dep.pkg.as_str());
            }
        }
    }
    let mut components: Vec<Component> = seen
        .iter()
        .filter_map(|id| packages.get(id))
        .map(|p| component(p))
        .collect();
    components.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    Ok(components)
}

fn component(p: &Package) -> Component {
    // Only crates.io packages get a purl: `pkg:cargo/NAME` names a crates.io crate, and
    // the workspace's own crates are not there.
    let from_crates_io = p
        .source
        .as_deref()
        .is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"));
    Component {
        name: p.name.clone(),
        version: Some(p.version.clone()),
        purl: from_crates_io.then(|| format!("pkg:cargo/{}@{}", p.name, p.version)),
        licences: p.license.iter().map(|l| spdx_expression(l)).collect(),
    }
}

/// Cargo still accepts the old `MIT/Apache-2.0` form; SPDX spells it `MIT OR Apache-2.0`
/// (as cargo-deny reads it).
fn spdx_expression(licence: &str) -> String {
    licence
        .split('/')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" OR ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pkg(name: &str, license: Option<&str>, source: Option<&str>) -> serde_json::Value {
        json!({"id": format!("{name} 1.0.0"), "name": name, "version": "1.0.0",
               "license": license, "source": source})
    }

    fn dep(name: &str, kind: Option<&str>) -> serde_json::Value {
        json!({"pkg": format!("{name} 1.0.0"), "dep_kinds": [{"kind": kind, "target": null}]})
    }

    fn metadata() -> Vec<u8> {
        let reg = Some("registry+https://github.com/rust-lang/crates.io-index");
        serde_json::to_vec(&json!({
            "packages": [
                pkg("app", Some("Apache-2.0"), None),
                pkg("serde", Some("MIT/Apache-2.0"), reg),
                pkg("cc", Some("MIT"), reg),
                pkg("proptest", Some("MIT"), reg),
                pkg("itoa", None, reg),
                pkg("unused", Some("MIT"), reg),
            ],
            "workspace_members": ["app 1.0.0"],
            "resolve": {"nodes": [
                {"id": "app 1.0.0", "deps": [dep("serde", None), dep("cc", Some("build")),
                                             dep("proptest", Some("dev"))]},
                {"id": "serde 1.0.0", "deps": [dep("itoa", None)]},
                {"id": "cc 1.0.0", "deps": []},
                {"id": "itoa 1.0.0", "deps": []},
            ]}
        }))
        .unwrap()
    }

    #[test]
    fn lists_what_the_roots_link_with_purls_and_spdx_licences_and_nothing_else() {
        let got = linked_components(&metadata(), &["app"]).unwrap();
        let names: Vec<_> = got.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["app", "itoa", "serde"]);
        assert_eq!(got[0].purl, None, "a workspace crate is not on crates.io");
        assert_eq!(got[2].purl.as_deref(), Some("pkg:cargo/serde@1.0.0"));
        assert_eq!(got[2].licences, ["MIT OR Apache-2.0"]);
        assert!(got[1].licences.is_empty());
    }

    #[test]
    fn refuses_an_unknown_root_and_metadata_without_a_graph() {
        assert!(matches!(
            linked_components(&metadata(), &["nope"]),
            Err(MetadataError::UnknownRoot(r)) if r == "nope"
        ));
        let no_deps = br#"{"packages": [], "workspace_members": [], "resolve": null}"#;
        assert!(matches!(
            linked_components(no_deps, &["app"]),
            Err(MetadataError::NoResolve)
        ));
    }
}
