//! A throwaway compose project for tests against the real engine, removed on drop.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use driftless_runtime::{ContainerRuntime, DockerRuntime, RuntimeError, PROJECT_LABEL};
use driftless_test_support::images::build_http_image;
use driftless_test_support::prereq::require_docker;

/// A compose project under a temp dir whose containers and networks are removed on
/// drop, even when the test panics before its own `compose_down`.
pub struct Project {
    pub name: String,
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new(purpose: &str, compose_yaml: &str, env: &str) -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        Project::in_dir(dir, purpose, compose_yaml, env)
    }

    /// A project whose files live under `base` instead of the system temp dir.
    pub fn new_in(base: &std::path::Path, purpose: &str, compose_yaml: &str, env: &str) -> Project {
        let dir = tempfile::tempdir_in(base).expect("temp dir");
        Project::in_dir(dir, purpose, compose_yaml, env)
    }

    fn in_dir(dir: tempfile::TempDir, purpose: &str, compose_yaml: &str, env: &str) -> Project {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        let name = format!(
            "dlrt{purpose}{}x{}x{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        std::fs::write(dir.path().join("compose.yaml"), compose_yaml).expect("write compose file");
        std::fs::write(dir.path().join("release.env"), env).expect("write env file");
        Project { name, dir }
    }

    pub fn compose_file(&self) -> PathBuf {
        self.dir.path().join("compose.yaml")
    }

    pub fn env_file(&self) -> PathBuf {
        self.dir.path().join("release.env")
    }

    pub async fn up(&self, rt: &DockerRuntime) -> Result<(), RuntimeError> {
        rt.compose_up(&self.name, &self.compose_file(), &self.env_file())
            .await
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let label = format!("label={PROJECT_LABEL}={}", self.name);
        for (list, remove) in [
            (vec!["ps", "-aq", "--filter", &label], vec!["rm", "-f"]),
            (
                vec!["network", "ls", "-q", "--filter", &label],
                vec!["network", "rm"],
            ),
        ] {
            let ids = docker_stdout(&list);
            if !ids.is_empty() {
                let mut args = remove.clone();
                args.extend(ids.lines());
                let _ = Command::new("docker").args(&args).output();
            }
        }
    }
}

pub fn docker_stdout(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

pub async fn runtime() -> DockerRuntime {
    require_docker();
    DockerRuntime::connect()
        .await
        .expect("connect to the docker engine")
}

pub fn http_image() -> String {
    let tag = "driftless-runtime-test/http:1";
    build_http_image(tag, "hello from driftless\n").expect("build http image");
    tag.to_owned()
}

pub fn compose_yaml(services: &[(&str, &str)]) -> String {
    let mut yaml = String::from("services:\n");
    for (name, image) in services {
        yaml.push_str(&format!(
            "  {name}:\n    image: {image}\n    environment:\n      GREETING: ${{GREETING}}\n"
        ));
    }
    yaml
}
