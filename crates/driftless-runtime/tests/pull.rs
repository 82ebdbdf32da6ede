//! Pulling through the real Docker Engine.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use driftless_runtime::{ContainerRuntime, DockerRuntime, PullProgress, RuntimeError};
use driftless_test_support::prereq::require_docker;

#[tokio::test]
async fn pull_from_an_unreachable_registry_is_a_pull_error_without_the_token() {
    require_docker();
    let rt = DockerRuntime::connect()
        .await
        .expect("connect to the docker engine");
    let image = "127.0.0.1:1/acme/web@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let token = "test-token-that-must-not-leak";
    let seen = Mutex::new(Vec::<PullProgress>::new());
    let progress = |p: PullProgress| seen.lock().expect("progress lock").push(p);

    let err = rt
        .pull(image, "127.0.0.1:1", token, &progress)
        .await
        .expect_err("nothing listens on port 1");

    assert!(matches!(err, RuntimeError::Pull { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains(image), "{shown}");
    assert!(shown.contains("cannot be reached"), "{shown}");
    let hint = err.hint().unwrap_or_default();
    assert!(hint.contains("network, DNS and proxy"), "{hint}");
    assert!(!hint.contains(token), "{hint}");
    assert!(!shown.contains(token), "{shown}");
    assert!(!format!("{err:?}").contains(token));
}
