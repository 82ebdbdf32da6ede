//! Migrations with a way back, on the real Docker Engine and registry: a demo app keeps
//! a schema version in a named volume, and each release's `pre_upgrade` job writes its
//! own version there (and appends it to a history file). A job that succeeds keeps its
//! data; a job that fails (before the switch or after the health gate), or a release
//! that is unhealthy after its job, sends the host back to the previous release with
//! the volume exactly as it was; no room for the snapshot changes nothing; a sync
//! killed after the job restores the snapshot first, then migrates again.
//!
//! Needs `cargo build --bins` first (scripts/test does).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use driftless_exit::code::{DISK_FULL, JOB_FAILED, RUNTIME};
use driftless_test_support::docker_cli::docker;
use driftless_test_support::images::{build_busybox_image, with_retries};
use driftless_test_support::process::{assert_exit, assert_success, stderr, stdout};
use driftless_test_support::world::World;
use serde_json::Value;

/// How one release of the demo app behaves.
#[derive(Clone, Copy)]
struct Demo {
    /// The exit code of its `pre_upgrade` job (after it wrote its version).
    job_exit: u8,
    /// Whether its app service exits at once (never healthy).
    app_crashes: bool,
    /// The exit code of a `post_upgrade` job it declares, if any (after it wrote).
    post_job_exit: Option<u8>,
    /// Whether its `pre_upgrade` job never ends (after it wrote).
    job_hangs: bool,
    /// The release's job timeout (`x-driftless.jobs.timeout_s`).
    job_timeout_s: u32,
}

const GOOD: Demo = Demo {
    job_exit: 0,
    app_crashes: false,
    post_job_exit: None,
    job_hangs: false,
    job_timeout_s: 60,
};

/// What a failing job of `version` prints last.
fn failure_line(version: &str) -> String {
    format!("migration to {version} failed on purpose")
}

/// Builds `<app>/app:<version>` and writes the release's compose file.
fn demo_release(w: &World, version: &str, demo: Demo) -> PathBuf {
    let image = format!("{}/app:{version}", w.app);
    with_retries(|| build_busybox_image(&image));
    let app_cmd = if demo.app_crashes {
        "echo app crashing on purpose; exit 1".to_string()
    } else {
        "trap 'exit 0' TERM; while true; do /bin/busybox sleep 1; done".to_string()
    };
    let mut job = format!(
        "echo migrating schema to {version}; echo {version} > /data/schema; echo {version} >> /data/history; echo {version} > /data/written-by-{version}"
    );
    if demo.job_hangs {
        job.push_str("; echo hanging on purpose; while true; do /bin/busybox sleep 1; done");
    }
    if demo.job_exit != 0 {
        job.push_str(&format!(
            "; echo '{}' >&2; exit {}",
            failure_line(version),
            demo.job_exit
        ));
    }
    let (post_jobs, post_service) = match demo.post_job_exit {
        Some(code) => (
            "\n    post_upgrade: [check]".to_string(),
            format!(
                "  check:\n    image: {image}\n    network_mode: bridge\n    command: [\"/bin/busybox\", \"sh\", \"-c\", \"echo post-{version} >> /data/history; echo 'check of {version} failed on purpose'; exit {code}\"]\n    volumes: [\"data:/data\"]\n"
            ),
        ),
        None => (String::new(), String::new()),
    };
    let compose = format!(
        r#"x-driftless:
  health:
    timeout_s: 30
    settle_s: 1
  jobs:
    pre_upgrade: [migrate]{post_jobs}
    timeout_s: {job_timeout_s}
  data_volumes: [data]
services:
  app:
    image: {image}
    network_mode: bridge
    command: ["/bin/busybox", "sh", "-c", "{app_cmd}"]
    volumes: ["data:/data"]
  migrate:
    image: {image}
    network_mode: bridge
    command: ["/bin/busybox", "sh", "-c", "{job}"]
    volumes: ["data:/data"]
{post_service}volumes:
  data: {{}}
"#,
        job_timeout_s = demo.job_timeout_s
    );
    let path = w.stack.dir.path().join(format!("demo-{version}.yaml"));
    std::fs::write(&path, compose).unwrap();
    path
}

fn release(w: &World, version: &str, demo: Demo) {
    let compose = demo_release(w, version, demo);
    w.publish(version, &compose);
    w.promote(version, "stable");
}

/// The engine's name of the host's `data` volume.
fn data_volume(w: &World, host: &str) -> String {
    let project = format!("label=com.docker.compose.project={}", w.project(host));
    let listed = docker(
        &[
            "volume",
            "ls",
            "-q",
            "--filter",
            &project,
            "--filter",
            "label=com.docker.compose.volume=data",
        ],
        "list the data volume",
    )
    .unwrap();
    let names: Vec<&str> = listed.split_whitespace().collect();
    assert_eq!(names.len(), 1, "one data volume: {names:?}");
    names[0].to_string()
}

/// The files of the data volume and the schema and history it holds, read through a
/// container of the 1.0.0 image.
fn volume_content(w: &World, host: &str) -> (Vec<String>, String, String) {
    let mount = format!("{}:/data", data_volume(w, host));
    let image = format!("{}/app:1.0.0", w.app);
    let read = |script: &str| {
        let out = Command::new("docker")
            .args(["run", "--rm", "--network", "none", "-v", &mount, &image])
            .args(["/bin/busybox", "sh", "-c", script])
            .output()
            .unwrap();
        assert_success(&out, "read the data volume");
        stdout(&out).trim().to_string()
    };
    let files = read("ls /data");
    let mut files: Vec<String> = files.split_whitespace().map(str::to_string).collect();
    files.sort();
    (files, read("cat /data/schema"), read("cat /data/history"))
}

/// The image the host's app service runs.
fn app_image(w: &World, host: &str) -> String {
    let id = w.container_of(host, "app");
    docker(
        &["inspect", "--format", "{{.Config.Image}}", &id],
        "inspect app",
    )
    .unwrap()
}

fn assert_on(w: &World, host: &str, version: &str) {
    let status = w.status(host);
    assert_eq!(status["current_version"], version, "{status}");
    let running = w.running_containers(host);
    assert_eq!(
        running.len(),
        1,
        "only app runs (jobs are removed): {running:?}"
    );
    assert!(
        app_image(w, host).contains(&format!("/{}/r", w.app)),
        "app runs the release's image"
    );
    let descriptor = std::fs::read_to_string(
        w.state_dir(host)
            .join("releases")
            .join(version)
            .join("compose.yaml"),
    )
    .unwrap();
    assert!(
        descriptor.contains(&app_image(w, host)),
        "app runs {version}'s image"
    );
    assert!(
        !w.state_dir(host).join("snapshots").exists(),
        "the snapshot is gone once the sync ended"
    );
}

fn expected_files(versions: &[&str]) -> Vec<String> {
    let mut files = vec!["history".to_string(), "schema".to_string()];
    files.extend(versions.iter().map(|v| format!("written-by-{v}")));
    files.sort();
    files
}

#[test]
fn a_failed_migration_brings_the_previous_release_back_with_its_data() {
    let w = World::new("migrations");
    release(&w, "1.0.0", GOOD);
    w.install("h");
    w.sync_ok("h");
    assert_on(&w, "h", "1.0.0");
    assert_eq!(
        volume_content(&w, "h"),
        (expected_files(&["1.0.0"]), "1.0.0".into(), "1.0.0".into())
    );

    // A job that succeeds keeps what it wrote.
    release(&w, "2.0.0", GOOD);
    w.sync_ok("h");
    assert_on(&w, "h", "2.0.0");
    let after_two = (
        expected_files(&["1.0.0", "2.0.0"]),
        "2.0.0".to_string(),
        "1.0.0\n2.0.0".to_string(),
    );
    assert_eq!(volume_content(&w, "h"), after_two);
    let status = w.status("h");
    assert_eq!(status["last_job"]["release"], "2.0.0", "{status}");
    assert_eq!(status["last_job"]["exit_code"], 0, "{status}");

    // A job that writes, then fails: the volume is exactly as 2.0.0 left it.
    release(
        &w,
        "3.0.0",
        Demo {
            job_exit: 3,
            ..GOOD
        },
    );
    let out = w.sync("h");
    assert_exit(&out, JOB_FAILED, "sync of a release whose migration fails");
    let err = stderr(&out);
    assert!(
        err.contains("pre_upgrade job migrate of release 3.0.0 exited with code 3"),
        "{err}"
    );
    assert!(err.contains(&failure_line("3.0.0")), "{err}");
    assert_on(&w, "h", "2.0.0");
    assert_eq!(volume_content(&w, "h"), after_two);
    let status = w.status("h");
    let job = &status["last_job"];
    assert_eq!(job["service"], "migrate", "{status}");
    assert_eq!(job["phase"], "pre_upgrade", "{status}");
    assert_eq!(job["release"], "3.0.0", "{status}");
    assert_eq!(job["exit_code"], 3, "{status}");
    let tail = job["log_tail"].as_str().unwrap_or_default();
    assert!(tail.contains("migrating schema to 3.0.0"), "{status}");
    assert!(tail.contains(&failure_line("3.0.0")), "{status}");
    assert_eq!(status["held_back"], "3.0.0", "{status}");
    let text = w.driftless("h", &["status"]);
    assert_success(&text, "driftless status");
    let text = stdout(&text);
    assert!(
        text.contains("migrate (pre_upgrade of 3.0.0) exited with code 3"),
        "{text}"
    );
    assert!(text.contains(&failure_line("3.0.0")), "{text}");

    // Held back: the next sync does not run the failed job again.
    let out = w.sync("h");
    assert_exit(&out, RUNTIME, "sync of a held-back release");
    assert_eq!(volume_content(&w, "h"), after_two);

    // A job that succeeds but a release that is unhealthy after it: restored too.
    release(
        &w,
        "4.0.0",
        Demo {
            app_crashes: true,
            ..GOOD
        },
    );
    let out = w.sync("h");
    assert_exit(&out, RUNTIME, "sync of a release unhealthy after its job");
    assert!(
        stderr(&out).contains("service app is not healthy"),
        "{}",
        stderr(&out)
    );
    assert_on(&w, "h", "2.0.0");
    assert_eq!(volume_content(&w, "h"), after_two);
    assert_eq!(w.status("h")["last_job"]["release"], "4.0.0");

    // Healthy after its migration, but its post_upgrade job fails: restored too.
    release(
        &w,
        "5.0.0",
        Demo {
            post_job_exit: Some(5),
            ..GOOD
        },
    );
    let out = w.sync("h");
    assert_exit(
        &out,
        JOB_FAILED,
        "sync of a release whose post_upgrade job fails",
    );
    assert!(
        stderr(&out).contains("post_upgrade job check of release 5.0.0 exited with code 5"),
        "{}",
        stderr(&out)
    );
    assert_on(&w, "h", "2.0.0");
    assert_eq!(volume_content(&w, "h"), after_two);
    let status = w.status("h");
    assert_eq!(status["last_job"]["phase"], "post_upgrade", "{status}");
    assert_eq!(status["last_job"]["exit_code"], 5, "{status}");

    // A pre_upgrade job that runs past its timeout is stopped and fails: restored too.
    release(
        &w,
        "6.0.0",
        Demo {
            job_hangs: true,
            job_timeout_s: 3,
            ..GOOD
        },
    );
    let out = w.sync("h");
    assert_exit(&out, JOB_FAILED, "sync of a release whose job hangs");
    assert!(
        stderr(&out).contains("pre_upgrade job migrate of release 6.0.0 ran past its timeout"),
        "{}",
        stderr(&out)
    );
    assert_on(&w, "h", "2.0.0");
    assert_eq!(volume_content(&w, "h"), after_two);
    let status = w.status("h");
    assert_eq!(status["last_job"]["release"], "6.0.0", "{status}");
    assert_eq!(status["last_job"]["timed_out"], true, "{status}");

    // Both jobs succeed: the release stays, with what each of them wrote.
    release(
        &w,
        "7.0.0",
        Demo {
            post_job_exit: Some(0),
            ..GOOD
        },
    );
    w.sync_ok("h");
    assert_on(&w, "h", "7.0.0");
    assert_eq!(
        volume_content(&w, "h"),
        (
            expected_files(&["1.0.0", "2.0.0", "7.0.0"]),
            "7.0.0".to_string(),
            "1.0.0\n2.0.0\n7.0.0\npost-7.0.0".to_string(),
        )
    );
    let status = w.status("h");
    assert_eq!(status["last_job"]["phase"], "post_upgrade", "{status}");
    assert_eq!(status["last_job"]["exit_code"], 0, "{status}");
}

#[test]
fn no_room_for_the_snapshot_or_a_killed_sync_leaves_the_data_of_the_release_that_runs() {
    let w = World::new("migration-crash");
    release(&w, "1.0.0", GOOD);
    w.install("h");
    w.sync_ok("h");

    release(&w, "2.0.0", GOOD);
    // Room for 10 bytes of snapshot: refused midway, the old release comes back as it was.
    let out = w
        .cli("h")
        .env(
            "DRIFTLESS_TEST_SNAPSHOT_FREE_BYTES",
            (64 * 1024 * 1024 + 10).to_string(),
        )
        .arg("sync")
        .output()
        .unwrap();
    assert_exit(&out, DISK_FULL, "sync without room for the snapshot");
    assert!(
        stderr(&out).contains("bytes free for its snapshot"),
        "{}",
        stderr(&out)
    );
    assert_on(&w, "h", "1.0.0");
    assert_eq!(
        volume_content(&w, "h"),
        (expected_files(&["1.0.0"]), "1.0.0".into(), "1.0.0".into())
    );
    let status = w.status("h");
    assert_eq!(status["reason"]["code"], "disk_full", "{status}");
    assert_eq!(status["held_back"], Value::Null, "{status}");

    let out = w
        .cli("h")
        .env("DRIFTLESS_CRASH_AT", "after-pre-upgrade")
        .arg("sync")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the sync was killed: {}",
        stderr(&out)
    );
    assert_eq!(
        volume_content(&w, "h").2,
        "1.0.0\n2.0.0",
        "the job ran before the kill"
    );

    let out = w.sync_ok("h");
    assert!(
        stderr(&out).contains("restoring the data volumes from the snapshot"),
        "{}",
        stderr(&out)
    );
    assert_on(&w, "h", "2.0.0");
    // Migrated once from 1.0.0's data, not twice: the snapshot came back first.
    assert_eq!(
        volume_content(&w, "h"),
        (
            expected_files(&["1.0.0", "2.0.0"]),
            "2.0.0".into(),
            "1.0.0\n2.0.0".into()
        )
    );
}
