//! Prerequisite checks shared by tests that need Docker or the registry.

use std::process::Command;

/// Panics with a clear message when `program` cannot be run with `args`.
///
/// Tests that need a real component call this first; the project's scripts install
/// every prerequisite, so a missing one is a broken machine, never a reason to skip.
pub fn require(program: &str, args: &[&str], install_hint: &str) {
    let ok = Command::new(program)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test needs `{program}` and it is not usable here; {install_hint}"
    );
}

/// Panics unless the Docker Engine answers.
pub fn require_docker() {
    require(
        "docker",
        &["info", "--format", "{{.ServerVersion}}"],
        "start the Docker Engine (scripts/test expects it running)",
    );
}
