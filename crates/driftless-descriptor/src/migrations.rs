//! `x-driftless.jobs` and `x-driftless.data_volumes`: the run-once services a release
//! runs around its switch, and the named volumes the host snapshots before them.

use std::collections::BTreeSet;

use driftless_wire::release::Migrations;
use serde::Deserialize;
use serde_norway::Value;

use crate::schema::{EXTENSION_KEY, EXTENSION_SHAPE};
use crate::{ComposeFile, DescriptorError};

/// The compose profile the host gives job services, so `up` never starts them.
pub const JOB_PROFILE: &str = "driftless-job";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJobs {
    #[serde(default)]
    pre_upgrade: Vec<String>,
    #[serde(default)]
    post_upgrade: Vec<String>,
    #[serde(default)]
    timeout_s: Option<u64>,
}

fn invalid(reason: String) -> DescriptorError {
    DescriptorError::InvalidSchema { reason, hint: None }
}

fn shape(what: &str, e: impl std::fmt::Display) -> DescriptorError {
    DescriptorError::InvalidSchema {
        reason: format!("{what}: {e}"),
        hint: Some(EXTENSION_SHAPE),
    }
}

impl ComposeFile {
    /// The jobs and data volumes declared under `x-driftless`, checked against the file:
    /// every job is a service of the file, listed once, and at least one service is not a
    /// job; every data volume is a named, non-external volume declared under `volumes:`.
    pub fn migrations(&self) -> Result<Migrations, DescriptorError> {
        let Some(ext) = self.root().get(EXTENSION_KEY).and_then(Value::as_mapping) else {
            return Ok(Migrations::default());
        };
        let mut m = Migrations::default();
        if let Some(jobs) = ext.get("jobs").filter(|j| !j.is_null()) {
            let raw: RawJobs =
                serde_norway::from_value(jobs.clone()).map_err(|e| shape("jobs", e))?;
            m.pre_upgrade = raw.pre_upgrade;
            m.post_upgrade = raw.post_upgrade;
            m.job_timeout_s = raw.timeout_s;
        }
        if let Some(volumes) = ext.get("data_volumes").filter(|v| !v.is_null()) {
            m.data_volumes =
                serde_norway::from_value(volumes.clone()).map_err(|e| shape("data_volumes", e))?;
        }
        self.check_jobs(&m)?;
        self.check_data_volumes(&m.data_volumes)?;
        Ok(m)
    }

    fn check_jobs(&self, m: &Migrations) -> Result<(), DescriptorError> {
        if m.job_timeout_s == Some(0) {
            return Err(invalid("jobs.timeout_s must be at least 1".into()));
        }
        let services: BTreeSet<String> = self.services().into_iter().map(|s| s.service).collect();
        let mut seen = BTreeSet::new();
        for job in m.pre_upgrade.iter().chain(&m.post_upgrade) {
            if !services.contains(job) {
                return Err(invalid(format!(
                    "jobs: `{job}` is not a service of this file; a job is a service run once"
                )));
            }
            if !seen.insert(job) {
                return Err(invalid(format!("jobs: service `{job}` is listed twice")));
            }
        }
        if !seen.is_empty() && services.iter().all(|s| seen.contains(s)) {
            return Err(invalid(
                "jobs: every service is a job; a release needs at least one service to run".into(),
            ));
        }
        Ok(())
    }

    fn check_data_volumes(&self, names: &[String]) -> Result<(), DescriptorError> {
        let declared = self.root().get("volumes").and_then(Value::as_mapping);
        let mut seen = BTreeSet::new();
        for name in names {
            if !seen.insert(name) {
                return Err(invalid(format!(
                    "data_volumes: volume `{name}` is listed twice"
                )));
            }
            let Some(volume) = declared.and_then(|d| d.get(name.as_str())) else {
                return Err(invalid(format!(
                    "data_volumes: `{name}` is not a named volume declared under the file's top-level `volumes:`"
                )));
            };
            let external = volume
                .get("external")
                .is_some_and(|e| !matches!(e, Value::Bool(false) | Value::Null));
            if external {
                return Err(invalid(format!(
                    "data_volumes: volume `{name}` is external; only volumes the release creates can be snapshotted"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "services:\n  app:\n    image: a/app:1\n  migrate:\n    image: a/app:1\nvolumes:\n  data: {}\n  ext:\n    external: true\n";

    fn parse(ext: &str) -> Result<Migrations, DescriptorError> {
        let yaml = format!("{BASE}x-driftless:\n{ext}");
        ComposeFile::parse(yaml.as_bytes())?.migrations()
    }

    #[test]
    fn jobs_and_volumes_are_read() {
        let m = parse(
            "  jobs:\n    pre_upgrade: [migrate]\n    timeout_s: 30\n  data_volumes: [data]\n",
        )
        .unwrap_or_default();
        assert_eq!(m.pre_upgrade, vec!["migrate"]);
        assert_eq!(m.job_timeout_s, Some(30));
        assert_eq!(m.data_volumes, vec!["data"]);
        assert!(m.is_job("migrate") && !m.is_job("app"));
    }

    #[test]
    fn mistakes_are_refused_naming_what() {
        for (ext, want) in [
            (
                "  jobs:\n    pre_upgrade: [nope]\n",
                "`nope` is not a service",
            ),
            (
                "  jobs:\n    pre_upgrade: [migrate]\n    post_upgrade: [migrate]\n",
                "listed twice",
            ),
            (
                "  jobs:\n    pre_upgrade: [migrate, app]\n",
                "every service is a job",
            ),
            ("  jobs:\n    pre: [migrate]\n", "unknown field"),
            ("  jobs:\n    timeout_s: 0\n", "at least 1"),
            ("  data_volumes: [missing]\n", "not a named volume declared"),
            ("  data_volumes: [ext]\n", "is external"),
            ("  data_volumes: data\n", "data_volumes"),
        ] {
            let err = parse(ext).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(want), "{ext}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn a_file_without_them_has_none() {
        assert!(parse("  config: []\n").is_ok_and(|m| m.is_empty()));
    }

    #[test]
    fn the_host_render_gives_jobs_a_profile_so_up_skips_them() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let yaml = format!(
            "services:\n  app:\n    image: a/app@{digest}\n  migrate:\n    image: a/app@{digest}\n    profiles: [other]\nx-driftless:\n  jobs:\n    pre_upgrade: [migrate]\n"
        );
        let file = ComposeFile::parse(yaml.as_bytes()).map_err(|e| e.to_string());
        let rendered = file
            .and_then(|f| crate::render_for_host(&f, "127.0.0.1:5000").map_err(|e| e.to_string()))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| e);
        let reread = ComposeFile::parse(rendered.as_bytes()).map(|f| f.root().clone());
        let services = reread.as_ref().ok().and_then(|r| r.get("services"));
        let profiles = |s: &str| {
            services
                .and_then(|m| m.get(s))
                .and_then(|m| m.get("profiles"))
                .cloned()
        };
        assert_eq!(
            profiles("migrate"),
            Some(Value::Sequence(vec![Value::String(JOB_PROFILE.into())])),
            "{rendered}"
        );
        assert_eq!(profiles("app"), None, "{rendered}");
    }
}
