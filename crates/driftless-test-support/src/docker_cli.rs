//! The `docker` command line, for what tests do to the engine by hand.

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};

/// How long one `docker` command may take. An engine that stops answering (seen: a
/// `docker rm -f` that never returned) fails the test that asked, naming the command,
/// instead of holding its suite until CI's time limit.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `docker args…` to `what`, returning its trimmed stdout, or an error with its
/// stderr, or one naming the command when it has not ended within [`DOCKER_TIMEOUT`].
pub fn docker(args: &[&str], what: &str) -> anyhow::Result<String> {
    let mut child = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run docker to {what}; is the docker CLI installed?"))?;
    let stdout = read_to_end_in_background(child.stdout.take());
    let stderr = read_to_end_in_background(child.stderr.take());
    let deadline = Instant::now() + DOCKER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().context("wait for docker")? {
            break status;
        }
        if Instant::now() >= deadline {
            // Killing the client leaves the engine as it is; the pipes close with it.
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "docker could not {what}: the Docker Engine did not finish `docker {}` within {} s",
                args.join(" "),
                DOCKER_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = joined(stdout);
    ensure!(
        status.success(),
        "docker could not {what}: {}",
        String::from_utf8_lossy(&joined(stderr)).trim()
    );
    Ok(String::from_utf8_lossy(&stdout).trim().to_owned())
}

/// Reads a child's pipe to its end on a thread of its own, so that a full pipe never
/// stops the child while this one waits for it.
fn read_to_end_in_background(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error ends what is kept; the exit status tells what happened.
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// What a reader thread read (nothing, should it have panicked).
fn joined(reader: JoinHandle<Vec<u8>>) -> Vec<u8> {
    reader.join().unwrap_or_default()
}

/// Runs `docker args…`, panicking with its stderr when it fails; returns trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    docker(args, &format!("run `docker {}`", args.join(" "))).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Runs `docker args…` for cleanup: what fails is already gone, or left for the next run.
pub fn docker_quiet(args: &[&str]) -> String {
    docker(args, "clean up").unwrap_or_default()
}
