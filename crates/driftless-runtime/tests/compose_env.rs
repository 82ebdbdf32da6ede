//! The compose tool must see the release's env file, not the host's environment.
#![allow(clippy::unwrap_used)]
//!
//! Its own test binary: it sets a process environment variable, which must not race
//! with other tests starting processes in the same process.

mod project;

use driftless_runtime::ContainerRuntime;
use project::{compose_yaml, docker_stdout, http_image, runtime, Project};

#[tokio::test]
async fn host_environment_cannot_override_the_release_env_file() {
    let rt = runtime().await;
    let image = http_image();
    // The project reads the process environment only through the compose tool, which
    // the runtime starts with a cleared environment, so this must not leak through.
    std::env::set_var("GREETING", "from-the-host");
    let project = Project::new(
        "env",
        &compose_yaml(&[("web", &image)]),
        "GREETING=from-the-release\n",
    );

    project.up(&rt).await.expect("compose up");
    let containers = rt
        .project_containers(&project.name)
        .await
        .expect("list containers");
    let id = &containers.first().expect("one container").id;
    let env = docker_stdout(&["inspect", "--format", "{{json .Config.Env}}", id]);
    assert!(env.contains("GREETING=from-the-release"), "{env}");
    assert!(!env.contains("from-the-host"), "{env}");
}
