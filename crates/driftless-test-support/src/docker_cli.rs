//! The `docker` command line, for what tests do to the engine by hand.

use std::process::Command;

use anyhow::{ensure, Context as _};

/// Runs `docker args…` to `what`, returning its trimmed stdout, or an error with its stderr.
pub fn docker(args: &[&str], what: &str) -> anyhow::Result<String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .with_context(|| format!("cannot run docker to {what}; is the docker CLI installed?"))?;
    ensure!(
        output.status.success(),
        "docker could not {what}: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Runs `docker args…`, panicking with its stderr when it fails; returns trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    docker(args, &format!("run `docker {}`", args.join(" "))).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Runs `docker args…` for cleanup: what fails is already gone, or left for the next run.
pub fn docker_quiet(args: &[&str]) -> String {
    docker(args, "clean up").unwrap_or_default()
}
