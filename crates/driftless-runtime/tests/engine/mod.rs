//! The real Docker Engine and compose tool the runtime tests drive: a connected
//! runtime, a small HTTP image, and throwaway compose projects removed on drop.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::Path;

use driftless_runtime::{ContainerRuntime, ContainerState, DockerRuntime, RuntimeError};
use driftless_test_support::compose_project::ComposeProject;
use driftless_test_support::images::build_http_image;
use driftless_test_support::prereq::require_docker;

/// A compose project for `purpose` under the system temp dir, removed on drop even when
/// the test panics before its own `compose_down`.
pub fn new_project(purpose: &str, compose_yaml: &str, env: &str) -> ComposeProject {
    ComposeProject::with_files(&format!("dlrt{purpose}"), compose_yaml, env, None)
        .expect("compose project")
}

/// A project whose files live under `base` instead of the system temp dir.
pub fn new_project_in(base: &Path, purpose: &str, compose_yaml: &str, env: &str) -> ComposeProject {
    ComposeProject::with_files(&format!("dlrt{purpose}"), compose_yaml, env, Some(base))
        .expect("compose project")
}

/// `compose up` of `project` through the runtime under test.
pub async fn up(project: &ComposeProject, rt: &DockerRuntime) -> Result<(), RuntimeError> {
    rt.compose_up(project.name(), &project.compose_file(), &project.env_file())
        .await
}

/// The project's containers as the runtime under test lists them.
pub async fn containers(project: &ComposeProject, rt: &DockerRuntime) -> Vec<ContainerState> {
    rt.project_containers(project.name())
        .await
        .expect("list containers")
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
