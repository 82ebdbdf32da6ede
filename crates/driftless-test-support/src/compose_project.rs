//! A compose project a test owns: a guard whose containers and networks are removed
//! when it drops, pass or fail, and the engine's view of its containers.
//!
//! Compose labels every container of a project with [`PROJECT_LABEL`] and names its
//! default network `<project>_default`, so both can be found without the compose file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use crate::docker_cli::{docker, docker_quiet};

/// The label compose puts on a project's containers and networks.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label compose puts on a service's containers.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";

/// The compose file's name inside a project's directory.
const COMPOSE_FILE: &str = "compose.yaml";
/// The env file's name inside a project's directory.
const ENV_FILE: &str = "release.env";

/// A compose project whose containers and networks go away on drop.
pub struct ComposeProject {
    name: String,
    /// The compose and env files, for a project the test brings up itself.
    files: Option<tempfile::TempDir>,
}

impl ComposeProject {
    /// A guard for project `name`, which something else (the CLI) brings up.
    pub fn named(name: &str) -> ComposeProject {
        ComposeProject {
            name: name.to_string(),
            files: None,
        }
    }

    /// A project named `<prefix><pid>x<seq>x<nanos>` (unique per test and run) whose
    /// compose file and env file hold `compose_yaml` and `env`, in a temp dir under
    /// `base` (the system temp dir when `None`).
    pub fn with_files(
        prefix: &str,
        compose_yaml: &str,
        env: &str,
        base: Option<&Path>,
    ) -> anyhow::Result<ComposeProject> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = match base {
            Some(base) => tempfile::tempdir_in(base),
            None => tempfile::tempdir(),
        }
        .context("cannot create a temp dir for a compose project")?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "{prefix}{}x{}x{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        std::fs::write(dir.path().join(COMPOSE_FILE), compose_yaml)
            .context("cannot write the compose file")?;
        std::fs::write(dir.path().join(ENV_FILE), env).context("cannot write the env file")?;
        Ok(ComposeProject {
            name,
            files: Some(dir),
        })
    }

    /// The project's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The compose file of a project made [`with_files`](Self::with_files).
    pub fn compose_file(&self) -> PathBuf {
        self.files_dir().join(COMPOSE_FILE)
    }

    /// The env file of a project made [`with_files`](Self::with_files).
    pub fn env_file(&self) -> PathBuf {
        self.files_dir().join(ENV_FILE)
    }

    fn files_dir(&self) -> &Path {
        match &self.files {
            Some(dir) => dir.path(),
            None => panic!("project {} was made without files", self.name),
        }
    }

    /// Sorted ids of the project's containers: running ones, or `all`; of one `service`.
    pub fn containers(&self, all: bool, service: Option<&str>) -> Vec<String> {
        containers(&self.name, all, service)
    }

    /// Every container of the project, running or not.
    pub fn all_containers(&self) -> Vec<String> {
        self.containers(true, None)
    }

    /// The project's running containers.
    pub fn running_containers(&self) -> Vec<String> {
        self.containers(false, None)
    }

    /// The id of the one container of `service`; panics unless there is exactly one.
    pub fn container_of(&self, service: &str) -> String {
        let ids = self.containers(true, Some(service));
        assert_eq!(
            ids.len(),
            1,
            "expected one container of {service} in {}, found {ids:?}",
            self.name
        );
        ids[0].clone()
    }
}

/// Sorted ids of the containers of compose project `project`: running ones, or `all`;
/// of one `service`. Panics when the engine cannot be asked.
pub fn containers(project: &str, all: bool, service: Option<&str>) -> Vec<String> {
    let project_filter = format!("label={PROJECT_LABEL}={project}");
    let mut args = vec!["ps", "--no-trunc", if all { "-aq" } else { "-q" }];
    args.extend(["--filter", &project_filter]);
    let service_filter = service.map(|s| format!("label={SERVICE_LABEL}={s}"));
    if let Some(s) = &service_filter {
        args.extend(["--filter", s]);
    }
    let listed = docker(&args, &format!("list the containers of {project}"))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let mut ids: Vec<String> = listed.split_whitespace().map(str::to_string).collect();
    ids.sort();
    ids
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        let label = format!("label={PROJECT_LABEL}={}", self.name);
        let containers = docker_quiet(&["ps", "-aq", "--filter", &label]);
        if !containers.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(containers.lines());
            docker_quiet(&args);
        }
        // The engine has room for few networks: remove the project's, by label and the
        // default one by name (an older compose may not label it).
        let networks = docker_quiet(&["network", "ls", "-q", "--filter", &label]);
        let default = format!("{}_default", self.name);
        let mut args = vec!["network", "rm"];
        args.extend(networks.lines());
        args.push(&default);
        docker_quiet(&args);
        // Volumes last: a volume a container uses cannot be removed.
        let volumes = docker_quiet(&["volume", "ls", "-q", "--filter", &label]);
        if !volumes.is_empty() {
            let mut args = vec!["volume", "rm", "-f"];
            args.extend(volumes.lines());
            docker_quiet(&args);
        }
    }
}
