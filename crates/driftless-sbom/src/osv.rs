//! An offline OSV data set: a directory of OSV JSON records (one advisory per file, as
//! OSV's per-ecosystem exports unpack), matched against components by package URL and
//! version ranges (`ECOSYSTEM` and `SEMVER`; `GIT` ranges name commits and are skipped).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;
use std::path::Path;

use crate::purl::{package_key, Purl};
use crate::{Component, SbomError};

/// The largest OSV record read; bigger files are refused.
const MAX_RECORD_BYTES: u64 = 4 << 20;

/// How bad an advisory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Low.
    Low,
    /// Medium (GitHub's `MODERATE`).
    Medium,
    /// High.
    High,
    /// Critical; also what an advisory that states no severity counts as.
    Critical,
}

impl Severity {
    /// Parses a severity name (case-insensitive; `moderate` is medium).
    pub fn parse(text: &str) -> Result<Severity, SbomError> {
        match text.to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "medium" | "moderate" => Ok(Severity::Medium),
            "high" | "important" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(SbomError::BadSeverity(text.to_string())),
        }
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One advisory, reduced to what matching needs.
#[derive(Clone, Debug)]
pub struct Advisory {
    /// Its id (`GHSA-…`, `CVE-…`, `DSA-…`).
    pub id: String,
    /// Its other ids.
    pub aliases: Vec<String>,
    /// One line about it.
    pub summary: String,
    /// The severity it states (`database_specific.severity`); critical when none.
    pub severity: Severity,
    /// Unix seconds it was last modified.
    pub modified: i64,
    affected: Vec<Affected>,
}

#[derive(Clone, Debug)]
struct Affected {
    /// Purl type of the package.
    kind: String,
    /// [`package_key`] of the package.
    key: String,
    ranges: Vec<Vec<Event>>,
    versions: Vec<String>,
}

#[derive(Clone, Debug)]
enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
}

/// Every advisory of an OSV directory.
#[derive(Clone, Debug, Default)]
pub struct OsvDataSet {
    /// The advisories.
    pub advisories: Vec<Advisory>,
    /// The newest `modified` time of any record (Unix seconds): the data set's age.
    pub newest_modified: Option<i64>,
}

impl OsvDataSet {
    /// Reads every `*.json` file of `dir` (not recursively).
    pub fn load_dir(dir: &Path) -> Result<OsvDataSet, SbomError> {
        let fail = |e: std::io::Error| SbomError::OsvDir {
            path: dir.display().to_string(),
            reason: e.to_string(),
        };
        let mut set = OsvDataSet::default();
        for entry in std::fs::read_dir(dir).map_err(fail)? {
            let path = entry.map_err(fail)?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let what = path.display().to_string();
            let bad = |reason: String| SbomError::BadAdvisory {
                what: what.clone(),
                reason,
            };
            let len = std::fs::metadata(&path)
                .map_err(|e| bad(e.to_string()))?
                .len();
            if len > MAX_RECORD_BYTES {
                return Err(bad(format!("{len} bytes, over {MAX_RECORD_BYTES}")));
            }
            let bytes = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
            set.add(&bytes, &what)?;
        }
        set.advisories.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(set)
    }

    /// Adds one OSV record.
    pub fn add(&mut self, bytes: &[u8], what: &str) -> Result<(), SbomError> {
        let advisory = advisory(bytes, what)?;
        self.newest_modified = self.newest_modified.max(Some(advisory.modified));
        self.advisories.push(advisory);
        Ok(())
    }

    /// The data set's age in whole days at `now`; `None` when it holds no record.
    pub fn age_days(&self, now: i64) -> Option<u64> {
        self.newest_modified
            .map(|m| u64::try_from((now - m).max(0) / 86_400).unwrap_or(0))
    }

    /// The advisory with id (or alias) `id`.
    pub fn get(&self, id: &str) -> Option<&Advisory> {
        self.advisories
            .iter()
            .find(|a| a.id == id || a.aliases.iter().any(|x| x == id))
    }

    /// Every advisory that affects `component` (matched by its purl and version).
    pub fn matching<'a>(&'a self, component: &Component) -> Vec<&'a Advisory> {
        let Some(purl) = component.purl.as_deref().and_then(Purl::parse) else {
            return Vec::new();
        };
        let Some(version) = purl.version.clone().or_else(|| component.version.clone()) else {
            return Vec::new();
        };
        let key = purl.match_key();
        self.advisories
            .iter()
            .filter(|a| a.affects(&key, &version))
            .collect()
    }
}

impl Advisory {
    /// Whether the package `key` at `version` is affected.
    pub fn affects_component(&self, component: &Component) -> bool {
        let Some(purl) = component.purl.as_deref().and_then(Purl::parse) else {
            return false;
        };
        let version = purl.version.clone().or_else(|| component.version.clone());
        version.is_some_and(|v| self.affects(&purl.match_key(), &v))
    }

    fn affects(&self, key: &str, version: &str) -> bool {
        self.affected.iter().any(|a| {
            a.key == key
                && (a.versions.iter().any(|v| v == version)
                    || a.ranges.iter().any(|r| in_range(&a.kind, r, version)))
        })
    }
}

/// Whether `v` falls in one OSV range: `introduced` opens an interval, `fixed` closes
/// it before that version, `last_affected` closes it after.
fn in_range(kind: &str, events: &[Event], v: &str) -> bool {
    let cmp = |other: &str| crate::version::compare(kind, v, other);
    let mut open: Option<bool> = None;
    for e in events {
        match e {
            Event::Introduced(i) => open = Some(i == "0" || cmp(i) != Ordering::Less),
            Event::Fixed(f) if open == Some(true) => {
                if cmp(f) == Ordering::Less {
                    return true;
                }
                open = None;
            }
            Event::LastAffected(l) if open == Some(true) => {
                if cmp(l) != Ordering::Greater {
                    return true;
                }
                open = None;
            }
            _ => {}
        }
    }
    open == Some(true)
}

/// The purl type OSV's ecosystem name corresponds to.
fn purl_type(ecosystem: &str) -> String {
    let base = ecosystem.split(':').next().unwrap_or(ecosystem);
    match base {
        "Debian" | "Ubuntu" => "deb",
        "Alpine" | "Wolfi" | "Chainguard" => "apk",
        "crates.io" => "cargo",
        "Go" => "golang",
        "PyPI" => "pypi",
        "RubyGems" => "gem",
        "Packagist" => "composer",
        "Red Hat" | "Rocky Linux" | "AlmaLinux" => "rpm",
        other => return other.to_ascii_lowercase(),
    }
    .to_string()
}

fn advisory(bytes: &[u8], what: &str) -> Result<Advisory, SbomError> {
    let bad = |reason: String| SbomError::BadAdvisory {
        what: what.to_string(),
        reason,
    };
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON ({e})")))?;
    let id = doc
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no `id`".into()))?;
    let modified = doc
        .get("modified")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no `modified` time".into()))?;
    let modified = humantime::parse_rfc3339_weak(modified)
        .map_err(|e| bad(format!("`modified` {modified}: {e}")))?
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let affected = doc.get("affected").and_then(Value::as_array);
    let affected: Vec<Affected> = affected
        .into_iter()
        .flatten()
        .filter_map(affected_entry)
        .collect();
    Ok(Advisory {
        id: id.to_string(),
        aliases: strings(doc.get("aliases")),
        summary: doc
            .get("summary")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        severity: stated_severity(&doc),
        modified,
        affected,
    })
}

/// `database_specific.severity` (GitHub, most databases), else the first affected
/// entry's `ecosystem_specific.severity`; critical when neither is readable, so an
/// advisory of unknown weight blocks rather than slips through.
fn stated_severity(doc: &Value) -> Severity {
    let first_affected = doc.pointer("/affected/0/ecosystem_specific/severity");
    doc.pointer("/database_specific/severity")
        .or(first_affected)
        .and_then(Value::as_str)
        .and_then(|s| Severity::parse(s).ok())
        .unwrap_or(Severity::Critical)
}

fn affected_entry(a: &Value) -> Option<Affected> {
    let package = a.get("package")?;
    let (kind, key) = match package
        .get("purl")
        .and_then(Value::as_str)
        .and_then(Purl::parse)
    {
        Some(p) => (p.kind.clone(), p.match_key()),
        None => {
            let kind = purl_type(package.get("ecosystem")?.as_str()?);
            let key = package_key(&kind, package.get("name")?.as_str()?);
            (kind, key)
        }
    };
    let ranges = a.get("ranges").and_then(Value::as_array);
    let ranges = ranges
        .into_iter()
        .flatten()
        .filter(|r| {
            matches!(
                r.get("type").and_then(Value::as_str),
                Some("ECOSYSTEM" | "SEMVER")
            )
        })
        .map(|r| {
            let events = r.get("events").and_then(Value::as_array);
            events.into_iter().flatten().filter_map(event).collect()
        })
        .collect();
    let versions = a.get("versions").and_then(Value::as_array);
    let versions = versions
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    Some(Affected {
        kind,
        key,
        ranges,
        versions,
    })
}

fn event(e: &Value) -> Option<Event> {
    let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
    s("introduced")
        .map(Event::Introduced)
        .or_else(|| s("fixed").map(Event::Fixed))
        .or_else(|| s("last_affected").map(Event::LastAffected))
        .or_else(|| s("limit").map(Event::Fixed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(purl: &str) -> Component {
        Component {
            name: "x".into(),
            purl: Some(purl.into()),
            ..Component::default()
        }
    }

    fn set(records: &[&str]) -> OsvDataSet {
        let mut s = OsvDataSet::default();
        for r in records {
            s.add(r.as_bytes(), "test").unwrap();
        }
        s
    }

    #[test]
    fn debian_ranges_use_debian_ordering() {
        let s = set(&[r#"{"id":"DSA-1","modified":"2026-12-01T00:00:00Z",
            "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}]}]}"#]);
        assert_eq!(
            s.matching(&component(
                "pkg:deb/debian/openssl@3.0.11-1~deb12u1?arch=amd64"
            ))
            .len(),
            1
        );
        assert!(s
            .matching(&component("pkg:deb/debian/openssl@3.0.11-1~deb12u2"))
            .is_empty());
        assert!(s
            .matching(&component("pkg:deb/debian/openssl@3.0.11-1"))
            .is_empty());
        assert!(s
            .matching(&component("pkg:deb/debian/libssl3@3.0.0"))
            .is_empty());
        assert_eq!(s.advisories[0].severity, Severity::Critical);
    }

    #[test]
    fn semver_ranges_last_affected_and_explicit_versions() {
        let s = set(&[r#"{"id":"GHSA-x","modified":"2026-11-01T00:00:00Z",
            "database_specific":{"severity":"MODERATE"},
            "affected":[{"package":{"ecosystem":"npm","name":"lodash"},
            "ranges":[{"type":"SEMVER","events":[{"introduced":"4.0.0"},{"last_affected":"4.17.20"}]}],
            "versions":["3.9.9"]}]}"#]);
        assert_eq!(s.advisories[0].severity, Severity::Medium);
        assert_eq!(s.matching(&component("pkg:npm/lodash@4.17.20")).len(), 1);
        assert!(s.matching(&component("pkg:npm/lodash@4.17.21")).is_empty());
        assert!(s.matching(&component("pkg:npm/lodash@3.9.8")).is_empty());
        assert_eq!(s.matching(&component("pkg:npm/lodash@3.9.9")).len(), 1);
        assert_eq!(
            s.age_days(s.newest_modified.unwrap() + 3 * 86_400 + 5),
            Some(3)
        );
    }

    #[test]
    fn refuses_a_record_without_id() {
        assert!(OsvDataSet::default()
            .add(br#"{"modified":"2026-01-01T00:00:00Z"}"#, "f")
            .is_err());
    }
}
