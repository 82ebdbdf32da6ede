//! The runtime adapter against the real Docker Engine and compose tool.
#![allow(clippy::unwrap_used)]

mod engine;

use std::path::PathBuf;
use std::time::Duration;

use driftless_runtime::{ContainerRuntime, ContainerState, HealthGate, RuntimeError};
use driftless_test_support::compose_project::ComposeProject;
use driftless_test_support::images::{
    build_crashing_image, build_failing_image, FAILING_IMAGE_MESSAGE,
};
use engine::{compose_yaml, containers, http_image, new_project, new_project_in, runtime, up};

const HEALTH_TIMEOUT: HealthGate = HealthGate {
    timeout: Duration::from_secs(60),
    settle: Duration::from_secs(5),
};

#[tokio::test]
async fn compose_up_runs_every_service_healthy_and_is_idempotent() {
    let rt = runtime().await;
    let image = http_image();
    let project = new_project(
        "up",
        &compose_yaml(&[("web", &image), ("api", &image)]),
        "GREETING=hi\n",
    );

    up(&project, &rt).await.expect("first compose up");
    let first = containers(&project, &rt).await;
    let services: Vec<&str> = first.iter().map(|c| c.service.as_str()).collect();
    assert_eq!(services, ["api", "web"], "{first:?}");
    assert!(
        first.iter().all(|c| c.running && c.image == image),
        "{first:?}"
    );
    assert!(
        first.iter().all(|c| c.image_id.starts_with("sha256:")),
        "{first:?}"
    );

    let wanted = vec!["web".to_owned(), "api".to_owned()];
    rt.wait_healthy(project.name(), &wanted, HEALTH_TIMEOUT)
        .await
        .expect("services become healthy");
    let healthy = containers(&project, &rt).await;
    assert!(
        healthy
            .iter()
            .all(|c| c.health.as_deref() == Some("healthy")),
        "{healthy:?}"
    );

    up(&project, &rt).await.expect("second compose up");
    let second = containers(&project, &rt).await;
    let ids = |cs: &[ContainerState]| cs.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&first),
        ids(&second),
        "an unchanged release must not recreate containers"
    );

    rt.compose_down(project.name(), &project.compose_file(), &project.env_file())
        .await
        .expect("compose down");
    let after = containers(&project, &rt).await;
    assert!(after.is_empty(), "down left containers behind: {after:?}");
}

#[tokio::test]
async fn wait_healthy_names_the_failing_service_and_its_logs() {
    let rt = runtime().await;
    let image = http_image();
    let broken = "driftless-runtime-test/failing:1";
    build_failing_image(broken).expect("build failing image");
    let project = new_project(
        "fail",
        &compose_yaml(&[("web", &image), ("broken", broken)]),
        "GREETING=hi\n",
    );

    up(&project, &rt).await.expect("compose up");
    let wanted = vec!["web".to_owned(), "broken".to_owned()];
    let err = rt
        .wait_healthy(project.name(), &wanted, HEALTH_TIMEOUT)
        .await
        .expect_err("a service that exits must fail the wait");
    match &err {
        RuntimeError::Unhealthy {
            service,
            state,
            log_tail,
        } => {
            assert_eq!(service, "broken");
            assert!(state.contains("exited with code 1"), "{state}");
            assert!(log_tail.contains(FAILING_IMAGE_MESSAGE), "{log_tail}");
        }
        other => panic!("expected Unhealthy, got {other:?}"),
    }
    assert!(err.to_string().contains("service broken"), "{err}");

    rt.compose_down(project.name(), &project.compose_file(), &project.env_file())
        .await
        .expect("compose down");
}

/// A service that runs for a second and then exits, under `restart`.
fn crashing_project(purpose: &str, restart: &str) -> ComposeProject {
    let image = "driftless-runtime-test/crash-after-1s:1";
    build_crashing_image(image, 1).expect("build crashing image");
    let yaml = format!(
        "services:\n  web:\n    image: {image}\n    restart: \"{restart}\"\n    environment:\n      GREETING: ${{GREETING}}\n"
    );
    new_project(purpose, &yaml, "GREETING=hi\n")
}

#[tokio::test]
async fn a_service_that_exits_a_second_after_start_never_passes_the_gate() {
    let rt = runtime().await;
    let project = crashing_project("crash", "no");
    up(&project, &rt).await.expect("compose up");
    let err = rt
        .wait_healthy(project.name(), &["web".to_owned()], HEALTH_TIMEOUT)
        .await
        .expect_err("a service that exits inside the settle window must fail the gate");
    match &err {
        RuntimeError::Unhealthy {
            service,
            state,
            log_tail,
        } => {
            assert_eq!(service, "web");
            assert!(state.contains("exited with code 1"), "{state}");
            assert!(log_tail.contains(FAILING_IMAGE_MESSAGE), "{log_tail}");
        }
        other => panic!("expected Unhealthy, got {other:?}"),
    }
}

#[tokio::test]
async fn a_crash_loop_under_a_restart_policy_never_passes_the_gate() {
    let rt = runtime().await;
    let project = crashing_project("loop", "unless-stopped");
    up(&project, &rt).await.expect("compose up");
    let err = rt
        .wait_healthy(project.name(), &["web".to_owned()], HEALTH_TIMEOUT)
        .await
        .expect_err("a container the engine keeps restarting must fail the gate");
    match &err {
        RuntimeError::Unhealthy { service, state, .. } => {
            assert_eq!(service, "web");
            assert!(state.contains("restart"), "{state}");
        }
        other => panic!("expected Unhealthy, got {other:?}"),
    }
    rt.compose_down(project.name(), &project.compose_file(), &project.env_file())
        .await
        .expect("compose down");
}

#[tokio::test]
async fn compose_failure_names_the_project_and_the_tools_complaint() {
    let rt = runtime().await;
    // Nothing listens on port 1: the compose tool must fail to pull and say so.
    let project = new_project(
        "bad",
        &compose_yaml(&[("web", "127.0.0.1:1/acme/absent:0")]),
        "GREETING=x\n",
    );

    let err = up(&project, &rt)
        .await
        .expect_err("an image that cannot be pulled fails up");
    assert!(matches!(err, RuntimeError::Compose { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains(project.name()), "{shown}");
    assert!(!shown.contains('\n'), "{shown}");
}

/// A compose command that does not end (here `up`, waiting on a dependency whose first
/// health check is an hour away) is stopped at the runtime's limit: it fails naming
/// the project and the limit, and the compose tool is not left running.
#[tokio::test]
async fn a_compose_command_that_never_ends_is_stopped_at_its_limit() {
    let rt = runtime().await.with_compose_timeout(Duration::from_secs(5));
    let image = http_image();
    let yaml = format!(
        "services:
  slow:
    image: {image}
    healthcheck:
      test: [\"CMD\", \"/bin/busybox\", \"true\"]
      interval: 1h
  web:
    image: {image}
    depends_on:
      slow:
        condition: service_healthy
"
    );
    let project = new_project("stuck", &yaml, "GREETING=x\n");

    let err = up(&project, &rt)
        .await
        .expect_err("an up waiting an hour on a dependency is stopped");
    assert!(matches!(err, RuntimeError::Compose { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains(project.name()), "{shown}");
    assert!(shown.contains("had not finished after 5 s"), "{shown}");
    // The tool got SIGKILL when its run was dropped; it is gone once reaped.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while let Some(pid) = live_process_naming(project.name()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the compose tool (pid {pid}) still runs after its limit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A live (not zombie) process whose command line contains `text`, if any.
fn live_process_naming(text: &str) -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        // The state follows the parenthesised command name.
        let state = stat.rsplit_once(") ")?.1.chars().next()?;
        let names = String::from_utf8_lossy(&cmdline).contains(text);
        (names && state != 'Z' && pid != std::process::id()).then_some(pid)
    })
}

#[tokio::test]
async fn image_presence_is_reported() {
    let rt = runtime().await;
    let image = http_image();
    assert!(rt.image_present(&image).await.expect("inspect image"));
    assert!(!rt
        .image_present("driftless-runtime-test/never-built:0")
        .await
        .expect("inspect image"));
}

#[tokio::test]
async fn free_disk_space_of_a_local_engine_is_known() {
    let rt = runtime().await;
    let free = rt.free_disk_bytes().await.expect("docker info");
    assert!(free.is_some_and(|b| b > 0), "{free:?}");
}

#[tokio::test]
async fn wait_healthy_times_out_naming_a_service_that_never_appears() {
    let rt = runtime().await;
    let image = http_image();
    let project = new_project("ghost", &compose_yaml(&[("web", &image)]), "GREETING=hi\n");

    up(&project, &rt).await.expect("compose up");
    let wanted = vec!["web".to_owned(), "ghost".to_owned()];
    let err = rt
        .wait_healthy(
            project.name(),
            &wanted,
            HealthGate {
                timeout: Duration::from_secs(2),
                settle: Duration::from_secs(1),
            },
        )
        .await
        .expect_err("a service without a container cannot be healthy");
    match &err {
        RuntimeError::Unhealthy { service, state, .. } => {
            assert_eq!(service, "ghost");
            assert!(state.contains("no container"), "{state}");
            assert!(state.contains("after 2s"), "{state}");
        }
        other => panic!("expected Unhealthy, got {other:?}"),
    }
}

#[tokio::test]
async fn relative_paths_are_resolved_from_the_callers_directory() {
    let rt = runtime().await;
    let image = http_image();
    // Under the target dir, deeper than the working directory, so a path resolved
    // from the wrong directory cannot land on the right file by climbing past `/`.
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let project = new_project_in(
        base,
        "rel",
        &compose_yaml(&[("web", &image)]),
        "GREETING=hi\n",
    );
    let cwd = std::env::current_dir().expect("cwd");
    let relative = |p: PathBuf| relative_to(&p, &cwd);

    rt.compose_up(
        project.name(),
        &relative(project.compose_file()),
        &relative(project.env_file()),
    )
    .await
    .expect("compose up with relative paths");
    let containers = containers(&project, &rt).await;
    assert_eq!(containers.len(), 1, "{containers:?}");
}

/// `path` relative to `from` (both absolute).
fn relative_to(path: &std::path::Path, from: &std::path::Path) -> PathBuf {
    let common = path
        .components()
        .zip(from.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in from.components().skip(common) {
        out.push("..");
    }
    out.extend(path.components().skip(common));
    out
}
