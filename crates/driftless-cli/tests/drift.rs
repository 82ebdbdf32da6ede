//! End to end: each kind of drift, made by hand on one host and one at a time, is
//! repaired at the next sync and reported; and the agent loop syncs on the server's
//! schedule and keeps the app running while the control plane is down.
//! Needs `cargo build --bins` first.
#![allow(clippy::unwrap_used)]

use driftless_test_support::docker_cli::docker_ok as docker;
use driftless_test_support::images::{build_http_image, with_retries};
use driftless_test_support::process::stderr;
use driftless_test_support::release_spec::{Spec, SERVICES};
use driftless_test_support::world::World;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// Syncs and asserts the host repaired drift and said so: stderr, status and report.
fn assert_repaired(w: &World, h: &str, what: &str) -> Output {
    let out = w.sync_ok(h);
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.starts_with("repaired:") || l.starts_with("drift:")),
        "{what}: sync did not report drift; stderr: {err}"
    );
    let status = w.status(h);
    assert_eq!(status["status"], "converged", "{what}: {status}");
    assert_eq!(
        status["reason"]["code"], "drift_repaired",
        "{what}: {status}"
    );
    assert!(
        status["last_repair"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{what}: {status}"
    );
    w.assert_runs(h, "1.0.0");
    out
}

/// The `<name>.edited-<ts>` files beside `file`.
fn edited_copies(file: &Path) -> Vec<PathBuf> {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let dir = std::fs::canonicalize(file.parent().unwrap()).unwrap();
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.strip_prefix(&format!("{name}.edited-"))
                .is_some_and(|ts| !ts.is_empty() && ts.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    found.sort();
    found
}

/// Edits `file` by hand, syncs, and asserts it was restored with the edit kept beside it.
fn hand_edit_is_restored(w: &World, h: &str, file: &Path) {
    let original = std::fs::read(file).unwrap();
    let mut edited = original.clone();
    edited.extend_from_slice(b"\n# edited by hand\n");
    std::fs::write(file, &edited).unwrap();
    let what = format!("hand edit of {}", file.display());
    let out = assert_repaired(w, h, &what);
    assert_eq!(
        std::fs::read(file).unwrap(),
        original,
        "{what}: not restored"
    );
    let copies = edited_copies(file);
    assert_eq!(copies.len(), 1, "{what}: copies {copies:?}");
    assert_eq!(
        std::fs::read(&copies[0]).unwrap(),
        edited,
        "{what}: the kept copy"
    );
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        stderr(&out).contains(&name)
            || w.status(h)["last_repair"].as_str().unwrap().contains(&name),
        "{what}: the report does not name the file"
    );
}

#[test]
fn each_kind_of_drift_is_repaired_at_the_next_sync_and_reported() {
    let w = World::new("drift");
    w.release("1.0.0", Spec::default());
    w.install("h");
    w.sync_ok("h");
    w.assert_runs("h", "1.0.0");
    let project = w.project("h");
    let other = format!("{}/other:1", w.app);
    with_retries(|| build_http_image(&other, "other"));

    // A clean sync in between reports nothing.
    let clean = |w: &World| {
        let out = w.sync_ok("h");
        assert!(
            !stderr(&out).lines().any(|l| l.starts_with("drift:")),
            "{}",
            stderr(&out)
        );
        assert_eq!(w.all_containers("h").len(), SERVICES.len());
    };

    // A service container stopped.
    let web = w.container_of("h", "web");
    docker(&["stop", &web]);
    assert_repaired(&w, "h", "web stopped");
    clean(&w);

    // A service container removed.
    let api = w.container_of("h", "api");
    docker(&["rm", "-f", &api]);
    assert_repaired(&w, "h", "api removed");
    assert_ne!(w.container_of("h", "api"), api);
    clean(&w);

    // An extra container in the project.
    let intruder = docker(&[
        "run",
        "-d",
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        "com.docker.compose.service=intruder",
        &other,
    ]);
    assert_eq!(w.all_containers("h").len(), SERVICES.len() + 1);
    assert_repaired(&w, "h", "an extra container");
    assert!(
        !w.all_containers("h").contains(&intruder),
        "the intruder is still there"
    );
    assert_eq!(w.all_containers("h").len(), SERVICES.len());
    clean(&w);

    // Owned files edited by hand.
    let current = w.state_dir("h").join("current");
    hand_edit_is_restored(&w, "h", &current.join("app.env"));
    clean(&w);
    hand_edit_is_restored(&w, "h", &current.join("compose.yaml"));
    clean(&w);
    hand_edit_is_restored(&w, "h", &w.state_dir("h").join("config.toml"));
    clean(&w);
    assert_eq!(w.status("h")["reason"], serde_json::Value::Null);
}

#[test]
fn a_service_running_another_image_is_replaced() {
    let w = World::new("drift-image");
    w.release("1.0.0", Spec::default());
    w.install("h");
    w.sync_ok("h");
    let project = w.project("h");
    let other = format!("{}/other:1", w.app);
    with_retries(|| build_http_image(&other, "other"));
    // A service running another image.
    let web = w.container_of("h", "web");
    docker(&["rm", "-f", &web]);
    docker(&[
        "run",
        "-d",
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        "com.docker.compose.service=web",
        "--label",
        "com.docker.compose.oneoff=False",
        "--label",
        "com.docker.compose.container-number=1",
        &other,
    ]);
    assert_eq!(w.served("h", "web"), "other");
    assert_repaired(&w, "h", "web on another image");

    assert_eq!(w.all_containers("h").len(), SERVICES.len());
}

/// Waits for `child` up to `timeout`; kills it and panics past that.
fn wait_bounded(child: &mut std::process::Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the agent did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Reads `child`'s stderr until a line contains `needle` (returned) or it closes; the
/// reader gives up after `timeout` so a silent agent cannot hang the test.
fn first_line_containing(child: &mut Child, needle: &str, timeout: Duration) -> Option<String> {
    use std::io::BufRead as _;
    let err = child.stderr.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    let needle = needle.to_owned();
    std::thread::spawn(move || {
        // Keeps draining after the match, so the agent never writes to a closed pipe.
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains(&needle) {
                let _ = tx.send(line);
            }
        }
    });
    rx.recv_timeout(timeout).ok()
}

/// Starts `driftless agent` on `h` for `max_syncs` syncs, without initial jitter.
fn spawn_agent(w: &World, h: &str, max_syncs: u32, stderr: Stdio) -> Child {
    w.cli(h)
        .args(["agent", "--initial-jitter-secs", "0", "--max-syncs"])
        .arg(max_syncs.to_string())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Runs the agent on `h` for `max_syncs` syncs and asserts it finished them within
/// `timeout` and succeeded.
fn agent_runs_to_the_end(w: &World, h: &str, max_syncs: u32, timeout: Duration) {
    let mut agent = spawn_agent(w, h, max_syncs, Stdio::null());
    let status = wait_bounded(&mut agent, timeout);
    assert!(status.success(), "agent exited {status:?}");
}

#[test]
fn the_agent_syncs_on_schedule_and_rides_out_a_control_plane_outage() {
    let mut w = World::new("agent");
    w.set_server_setting("next_checkin_s", 1);
    w.release("1.0.0", Spec::default());
    w.install("h");

    agent_runs_to_the_end(&w, "h", 2, Duration::from_secs(180));
    w.assert_runs("h", "1.0.0");

    // A release published meanwhile is picked up by the agent on its schedule.
    w.release("2.0.0", Spec::default());
    agent_runs_to_the_end(&w, "h", 2, Duration::from_secs(180));
    w.assert_runs("h", "2.0.0");

    // The control plane goes down: the agent keeps running and leaves the app alone.
    let before = w.all_containers("h");
    w.stack.stop_control();
    let mut agent = spawn_agent(&w, "h", 2, Stdio::piped());
    // Wait for the agent to report its first failed sync and schedule the next one,
    // then check it is still there: a failed check-in must not end the agent.
    let failed_line = first_line_containing(&mut agent, "next sync in", Duration::from_secs(120));
    let early = agent.try_wait().unwrap();
    if early.is_none() {
        let _ = agent.kill();
    }
    let out = agent.wait_with_output().unwrap();
    assert!(
        failed_line.as_deref().is_some_and(|l| l.contains("error:")),
        "the agent never reported the failed sync: {failed_line:?} {}",
        stderr(&out)
    );
    assert!(
        early.is_none(),
        "the agent exited early ({early:?}) with the control plane down: {}",
        stderr(&out)
    );
    assert_eq!(w.all_containers("h"), before, "containers changed");
    assert_eq!(w.running_containers("h"), before, "containers stopped");
    w.assert_runs("h", "2.0.0");
}

#[test]
fn the_agent_keeps_the_servers_interval_after_a_304() {
    let mut w = World::new("agent-304");
    w.set_server_setting("next_checkin_s", 1);
    w.release("1.0.0", Spec::default());
    w.install("h");
    agent_runs_to_the_end(&w, "h", 3, Duration::from_secs(60));
    w.assert_runs("h", "1.0.0");
}
