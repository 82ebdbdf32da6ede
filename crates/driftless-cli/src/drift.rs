//! Drift: how the running project differs from the release, and which owned files
//! were changed by hand. Detected at every sync, reported, and repaired.

use anyhow::Result;
use driftless_runtime::ContainerState;
use driftless_wire::release::ReleaseDocument;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::files::write_atomic;

/// What differs in the running project.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ContainerDrift {
    /// One line per difference, for the report.
    pub items: Vec<String>,
    /// Containers that must go: extra services and duplicates.
    pub extras: Vec<String>,
}

impl ContainerDrift {
    /// Whether the project runs exactly the release.
    pub fn is_clean(&self) -> bool {
        self.items.is_empty()
    }
}

/// `host/repository@digest` of an image as the host runs it.
pub fn image_ref(host: &str, image: &driftless_wire::release::ReleaseImage) -> String {
    format!("{host}/{}", image.pinned())
}

/// Compares the project's containers with the release.
pub fn containers(
    release: &ReleaseDocument,
    host: &str,
    found: &[ContainerState],
) -> ContainerDrift {
    let mut d = ContainerDrift::default();
    // Jobs run once and are removed: no container of theirs is expected.
    let is_job = |service: &str| release.migrations.is_job(service);
    for image in release.images.iter().filter(|i| !is_job(&i.service)) {
        let want = image_ref(host, image);
        let mine: Vec<&ContainerState> = found
            .iter()
            .filter(|c| c.service == image.service)
            .collect();
        match mine.as_slice() {
            [] => d
                .items
                .push(format!("service {} is missing", image.service)),
            [first, rest @ ..] => {
                if first.image != want {
                    d.items.push(format!(
                        "service {} runs {} instead of the release's {}",
                        image.service,
                        first.image,
                        image.pinned()
                    ));
                    // The wrong container goes; compose then creates the release's.
                    d.extras.push(first.id.clone());
                } else if !first.running {
                    d.items
                        .push(format!("service {} is {}", image.service, first.state));
                }
                for extra in rest {
                    d.items.push(format!(
                        "service {} has an extra container {}",
                        image.service, extra.name
                    ));
                    d.extras.push(extra.id.clone());
                }
            }
        }
    }
    for c in found {
        if is_job(&c.service) || !release.images.iter().any(|i| i.service == c.service) {
            d.items.push(format!(
                "container {} (service {}) is not part of the release",
                c.name, c.service
            ));
            d.extras.push(c.id.clone());
        }
    }
    d
}

/// Digests of the owned files the CLI wrote into a release directory.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Written {
    files: BTreeMap<String, String>,
}

fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Writes an owned file in `dir` when it differs from `bytes`. A file that differs
/// from what the CLI last wrote was edited by hand: it is kept beside as
/// `<name>.edited-<now>` and the line saying so is returned.
pub fn write_owned(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    private: bool,
    now: i64,
) -> Result<(bool, Option<String>)> {
    let record_path = dir.join(".written.json");
    let mut written: Written = fs::read(&record_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let path = dir.join(name);
    let existing = fs::read(&path).ok();
    if existing.as_deref() == Some(bytes) {
        return Ok((false, None));
    }
    let mut repaired = None;
    if let (Some(old), Some(recorded)) = (&existing, written.files.get(name)) {
        if digest(old) != *recorded {
            let backup = dir.join(format!("{name}.edited-{now}"));
            write_atomic(&backup, old, true)?;
            repaired = Some(format!(
                "{name} was edited by hand; restored it and kept the edit as {}",
                backup.display()
            ));
        }
    }
    write_atomic(&path, bytes, private)?;
    written.files.insert(name.to_string(), digest(bytes));
    write_atomic(&record_path, &serde_json::to_vec_pretty(&written)?, false)?;
    Ok((true, repaired))
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_wire::release::{DescriptorRef, HealthSpec, ReleaseImage};
    use driftless_wire::Digest;

    fn release() -> ReleaseDocument {
        let d = Digest::of(b"x");
        ReleaseDocument {
            doc_type: "release".into(),
            app: "a".into(),
            version: semver::Version::new(1, 0, 0),
            release_counter: 1,
            created_at: 0,
            expires: 1,
            images: vec![ReleaseImage {
                service: "web".into(),
                repository: "a/web".into(),
                digest: d.clone(),
                platforms: vec![],
                size: 0,
            }],
            descriptor: DescriptorRef {
                repository: "a/compose".into(),
                manifest_digest: d.clone(),
                digest: d,
                size: 1,
            },
            config_schema: vec![],
            health: HealthSpec::default(),
            min_cli_version: semver::Version::new(0, 1, 0),
            rollback_floor: 0,
            cli: vec![],
            notes: None,
            urgent: false,
            migrations: Default::default(),
            preflight: Default::default(),
            sboms: Vec::new(),
        }
    }

    fn container(id: &str, service: &str, image: &str, running: bool) -> ContainerState {
        ContainerState {
            id: id.into(),
            name: format!("p_{service}_{id}"),
            service: service.into(),
            image: image.into(),
            image_id: String::new(),
            running,
            health: None,
            state: if running {
                "running".into()
            } else {
                "exited".into()
            },
            restart_count: 0,
        }
    }

    #[test]
    fn each_kind_of_container_drift_is_named() {
        let r = release();
        let want = image_ref("h:1", &r.images[0]);
        assert!(containers(&r, "h:1", &[container("1", "web", &want, true)]).is_clean());
        let missing = containers(&r, "h:1", &[]);
        assert_eq!(missing.items, vec!["service web is missing"]);
        let stopped = containers(&r, "h:1", &[container("1", "web", &want, false)]);
        assert_eq!(stopped.items, vec!["service web is exited"]);
        let wrong = containers(&r, "h:1", &[container("1", "web", "other:latest", true)]);
        assert!(
            wrong.items[0].contains("runs other:latest"),
            "{:?}",
            wrong.items
        );
        let extra = containers(
            &r,
            "h:1",
            &[
                container("1", "web", &want, true),
                container("2", "debug", "x", true),
            ],
        );
        assert_eq!(extra.extras, vec!["2"]);
    }

    #[test]
    fn a_job_service_has_no_container_and_a_leftover_one_goes() {
        let mut r = release();
        let web = r.images[0].clone();
        r.images.push(ReleaseImage {
            service: "migrate".into(),
            ..web
        });
        r.migrations.pre_upgrade = vec!["migrate".into()];
        let want = image_ref("h:1", &r.images[0]);
        let only_web = [container("1", "web", &want, true)];
        assert!(containers(&r, "h:1", &only_web).is_clean());
        let leftover = containers(
            &r,
            "h:1",
            &[
                container("1", "web", &want, true),
                container("2", "migrate", &want, false),
            ],
        );
        assert_eq!(leftover.extras, vec!["2"]);
    }

    #[test]
    fn a_hand_edit_is_kept_as_a_backup_and_restored() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            write_owned(dir.path(), "app.env", b"A=1\n", true, 10).unwrap(),
            (true, None)
        );
        assert_eq!(
            write_owned(dir.path(), "app.env", b"A=1\n", true, 11).unwrap(),
            (false, None)
        );
        // A new rendering (config set) is not drift.
        assert_eq!(
            write_owned(dir.path(), "app.env", b"A=2\n", true, 12).unwrap(),
            (true, None)
        );
        fs::write(dir.path().join("app.env"), b"A=hacked\n").unwrap();
        let (changed, note) = write_owned(dir.path(), "app.env", b"A=2\n", true, 13).unwrap();
        assert!(changed && note.is_some_and(|n| n.contains("edited by hand")));
        assert_eq!(fs::read(dir.path().join("app.env")).unwrap(), b"A=2\n");
        assert_eq!(
            fs::read(dir.path().join("app.env.edited-13")).unwrap(),
            b"A=hacked\n"
        );
    }
}
