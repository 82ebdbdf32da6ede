//! `support-bundle analyze`: evaluates the analyzers of the release a bundle's host
//! ran (`x-driftless.analyzers` in its descriptor, carried in the bundle) on each
//! service's log lines, and names the known problems found.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use driftless_descriptor::{Analyzer, ComposeFile};
use serde::Serialize;
use serde_json::Value;

use super::archive::Archive;

/// One known problem found.
#[derive(Serialize)]
struct Finding {
    /// The analyzer's name.
    analyzer: String,
    /// The service whose log matched.
    service: String,
    /// What the release says the problem is.
    message: String,
    /// How many log lines matched.
    lines: usize,
    /// The first line that matched.
    first_line: String,
}

/// What `--json` prints.
#[derive(Serialize)]
struct Report {
    install_id: Option<String>,
    release: Option<String>,
    status: Option<String>,
    analyzers: usize,
    findings: Vec<Finding>,
}

/// Analyzes the bundle `bytes` and prints what was found.
pub fn run(bytes: &[u8], json: bool) -> Result<()> {
    let archive = Archive::read(bytes)?;
    let status = archive.json("status.json").unwrap_or(Value::Null);
    let text = |key: &str| status[key].as_str().map(str::to_string);
    let release = text("current_version")
        .or_else(|| text("assigned_version"))
        .or_else(|| newest_release(&archive));
    let analyzers = match &release {
        Some(version) => analyzers_of(&archive, version)?,
        None => Vec::new(),
    };
    let report = Report {
        install_id: text("install_id"),
        status: text("status"),
        analyzers: analyzers.len(),
        findings: findings(&archive, &analyzers),
        release,
    };
    if json {
        return crate::output::print_json(&report);
    }
    print_text(&report);
    Ok(())
}

/// The newest release the bundle carries documents of, by version.
fn newest_release(archive: &Archive) -> Option<String> {
    archive
        .under("releases")
        .filter_map(|(name, _)| name.split('/').next())
        .filter_map(|v| semver::Version::parse(v).ok())
        .max()
        .map(|v| v.to_string())
}

/// The analyzers the release's descriptor declares (none without a descriptor).
fn analyzers_of(archive: &Archive, version: &str) -> Result<Vec<Analyzer>> {
    let path = format!("releases/{version}/descriptor.yaml");
    let Some(yaml) = archive.file(&path) else {
        return Ok(Vec::new());
    };
    let file = ComposeFile::parse(yaml)
        .with_context(|| format!("cannot read {path} in the support bundle"))?;
    file.analyzers()
        .with_context(|| format!("the analyzers of release {version} are not valid"))
}

/// Each analyzer's matches in each log it applies to.
fn findings(archive: &Archive, analyzers: &[Analyzer]) -> Vec<Finding> {
    let services = services_by_container(archive);
    let mut found = Vec::new();
    for (file, log) in archive.under("logs") {
        let container = file.strip_suffix(".log").unwrap_or(file);
        let service = services.get(container).map_or(container, String::as_str);
        let log = String::from_utf8_lossy(log);
        for a in analyzers.iter().filter(|a| a.applies_to(service)) {
            let mut matched = log.lines().filter(|l| a.pattern.is_match(l));
            let Some(first) = matched.next() else {
                continue;
            };
            found.push(Finding {
                analyzer: a.name.clone(),
                service: service.to_string(),
                message: a.message.clone(),
                lines: 1 + matched.count(),
                first_line: first.to_string(),
            });
        }
    }
    found
}

/// Container name to compose service, from `compose-ps.json`.
fn services_by_container(archive: &Archive) -> BTreeMap<String, String> {
    let ps = archive.json("compose-ps.json").unwrap_or(Value::Null);
    ps.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c["name"].as_str()?.to_string(),
                c["service"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn print_text(r: &Report) {
    let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
    println!(
        "install {} running {} ({}); {} analyzers",
        or(&r.install_id),
        or(&r.release),
        or(&r.status),
        r.analyzers
    );
    if r.findings.is_empty() {
        println!("no known problem found");
    }
    for f in &r.findings {
        println!(
            "found {} in {} ({} lines): {}",
            f.analyzer, f.service, f.lines, f.message
        );
        println!("  first: {}", f.first_line);
    }
}
