//! End to end: a converged sync (304, no drift) starts no process and needs no compose
//! tool; drift detection uses the Engine API alone. The proof runs the CLI with `PATH`
//! holding only a `docker` and a `docker-compose` that write down that they were
//! called and fail. Needs `cargo build --bins` first.
#![allow(clippy::unwrap_used)]

use driftless_test_support::docker_cli::docker_ok as docker;
use driftless_test_support::process::{assert_success, stderr};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::world::World;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A directory whose `docker` and `docker-compose` append their command line to
/// `calls.log` beside them and exit 1, as if the tools were broken.
struct TrapPath {
    bin: PathBuf,
    log: PathBuf,
}

impl TrapPath {
    fn new(root: &Path) -> TrapPath {
        let bin = root.join("trap-bin");
        std::fs::create_dir_all(&bin).unwrap();
        let log = root.join("trap-calls.log");
        for tool in ["docker", "docker-compose"] {
            let path = bin.join(tool);
            let script = format!(
                "#!/bin/sh\necho \"{tool} $*\" >> '{}'\nexit 1\n",
                log.display()
            );
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        TrapPath { bin, log }
    }

    /// What the trapped tools were asked to do, one call a line.
    fn calls(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn forget_calls(&self) {
        let _ = std::fs::remove_file(&self.log);
    }

    /// Runs `driftless args…` on `host` with only the trapped tools on `PATH`.
    fn driftless(&self, w: &World, host: &str, args: &[&str]) -> Output {
        w.cli(host)
            .args(args)
            .env("PATH", &self.bin)
            .output()
            .unwrap()
    }
}

/// Asserts a sync on `host` with only the trapped tools on `PATH` succeeds, says
/// nothing changed, and called neither tool.
fn assert_noop_sync_starts_nothing(w: &World, trap: &TrapPath, host: &str, version: &str) {
    trap.forget_calls();
    let out = trap.driftless(w, host, &["sync"]);
    assert_success(&out, "a converged sync without a compose tool");
    assert!(
        stderr(&out).contains(&format!("already converged on {version}; nothing changed")),
        "{}",
        stderr(&out)
    );
    assert_eq!(trap.calls(), "", "a converged sync started a process");
}

#[test]
fn a_converged_sync_starts_no_process_and_a_change_still_uses_compose() {
    let w = World::new("noop");
    let trap = TrapPath::new(w.stack.dir.path());
    w.release("1.0.0", Spec::default());
    w.install("h");
    w.sync_ok("h");
    w.assert_runs("h", "1.0.0");

    assert_noop_sync_starts_nothing(&w, &trap, "h", "1.0.0");
    // Twice: the first no-op sync may still have refreshed held state.
    assert_noop_sync_starts_nothing(&w, &trap, "h", "1.0.0");
    w.assert_runs("h", "1.0.0");

    // `status` lists the services through the Engine API alone.
    let out = trap.driftless(&w, "h", &["status", "--json"]);
    assert_success(&out, "status without a compose tool");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["services"].as_array().unwrap().len(), 2, "{status}");
    assert_eq!(trap.calls(), "", "status started a process");

    // Drift is seen through the Engine API; repairing it needs compose, and the trap
    // shows the CLI really looks the tool up on this PATH when it needs it.
    let web = w.container_of("h", "web");
    docker(&["stop", &web]);
    trap.forget_calls();
    let out = trap.driftless(&w, "h", &["sync"]);
    assert!(!out.status.success(), "repaired drift without compose");
    assert!(stderr(&out).contains("drift:"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`docker-compose up -d --remove-orphans`"),
        "{}",
        stderr(&out)
    );
    let calls = trap.calls();
    assert!(calls.contains("docker compose version"), "calls: {calls}");
    assert!(calls.contains("docker-compose -p "), "calls: {calls}");
    // The standalone tool is found on PATH, not asked for its version (a Python start-up).
    assert!(!calls.contains("docker-compose version"), "calls: {calls}");
    // With the real tools the drift is repaired, and the next no-op starts nothing.
    w.sync_ok("h");
    w.assert_runs("h", "1.0.0");
    assert_noop_sync_starts_nothing(&w, &trap, "h", "1.0.0");

    // A real change still converges, through compose.
    w.release("2.0.0", Spec::default());
    w.sync_ok("h");
    w.assert_runs("h", "2.0.0");
    assert_noop_sync_starts_nothing(&w, &trap, "h", "2.0.0");
}
