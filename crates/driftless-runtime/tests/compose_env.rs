//! The compose tool must see the release's env file, not the host's environment.
#![allow(clippy::unwrap_used)]
//!
//! Its own test binary: it sets a process environment variable, which must not race
//! with other tests starting processes in the same process.

mod engine;

use driftless_test_support::docker_cli::docker_ok;
use engine::{compose_yaml, containers, http_image, new_project, runtime, up};

#[tokio::test]
async fn host_environment_cannot_override_the_release_env_file() {
    let rt = runtime().await;
    let image = http_image();
    // The project reads the process environment only through the compose tool, which
    // the runtime starts with a cleared environment, so this must not leak through.
    std::env::set_var("GREETING", "from-the-host");
    let project = new_project(
        "env",
        &compose_yaml(&[("web", &image)]),
        "GREETING=from-the-release\n",
    );

    up(&project, &rt).await.expect("compose up");
    let containers = containers(&project, &rt).await;
    let id = &containers.first().expect("one container").id;
    let env = docker_ok(&["inspect", "--format", "{{json .Config.Env}}", id]);
    assert!(env.contains("GREETING=from-the-release"), "{env}");
    assert!(!env.contains("from-the-host"), "{env}");
}
