//! End to end, on the real engine and registry: the first hour of an install. Values are
//! set right after `install` (from a TOML file, `--set`, or `config init` on a
//! terminal), before anything is pulled; and a release's `x-driftless.preflight` checks
//! refuse a host that cannot run it (a port held by another container, too little
//! memory, an unreachable endpoint) before any pull, with the check named on the host
//! and in the fleet view. Needs `cargo build --bins` first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftless_exit::code::{CONFIG_MISSING, PREFLIGHT_FAILED};
use driftless_test_support::docker_cli::docker_quiet;
use driftless_test_support::http_probe::http_body;
use driftless_test_support::process::{assert_refused_with_hint, assert_success, stderr, stdout};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::stack::free_port;
use driftless_test_support::world::World;
use serde_json::Value;

/// Builds, publishes and promotes `version` with the world's ports, `config` added to
/// its declared values and `preflight` (indented under it) as `x-driftless.preflight`.
fn release_with(w: &World, version: &str, config: &str, preflight: &str) {
    let path = w.build(version, Spec::PORTS);
    let text = std::fs::read_to_string(&path).unwrap();
    let head = "x-driftless:\n  config:\n";
    assert!(text.starts_with(head), "{text}");
    let text = text.replacen(
        head,
        &format!("x-driftless:\n  preflight:\n{preflight}  config:\n{config}"),
        1,
    );
    std::fs::write(&path, text).unwrap();
    w.publish(version, &path);
    w.promote(version, "stable");
}

/// Where the registry's access log ends now.
fn registry_log_len(w: &World) -> u64 {
    w.stack.registry.log_len().unwrap()
}

/// The manifest requests (any method) the registry logged since `from`: a pull starts
/// with one, so none means nothing was pulled.
fn manifest_requests_since(w: &World, from: u64) -> Vec<String> {
    let log = std::fs::read(w.stack.registry.log_path()).unwrap();
    let start = usize::try_from(from).unwrap().min(log.len());
    String::from_utf8_lossy(&log[start..])
        .lines()
        .filter(|l| l.contains("/v2/") && l.contains("/manifests/"))
        .map(str::to_string)
        .collect()
}

/// Asserts `host` fetched nothing of `version` from the registry: no descriptor kept
/// (a pull fetches it with the images).
fn assert_descriptor_not_fetched(w: &World, host: &str, version: &str) {
    let kept = w
        .state_dir(host)
        .join("releases")
        .join(version)
        .join("descriptor.yaml");
    assert!(!kept.exists(), "{} was fetched", kept.display());
}

/// A sync that converges, and the registry saw it ask for manifests: the log the
/// refusals are checked against does record pulls.
fn sync_pulls(w: &World, host: &str) {
    let log_from = registry_log_len(w);
    w.sync_ok(host);
    assert!(
        !manifest_requests_since(w, log_from).is_empty(),
        "the registry logged no manifest request for a sync that pulled"
    );
}

/// A sync refused by preflight check `check`: exit 16, the check named on stderr, no
/// manifest requested from the registry, no image pulled, no container started, and the
/// reason `preflight_failed:<check>` in status and in the fleet view (JSON and table).
fn assert_refused_before_pull(w: &World, host: &str, id: &str, check: &str) -> String {
    let log_from = registry_log_len(w);
    let out = w.sync(host);
    assert_refused_with_hint(&out, PREFLIGHT_FAILED, "sync refused by preflight");
    let text = stderr(&out);
    assert!(
        text.contains(&format!("preflight check `{check}` failed")),
        "{text}"
    );
    assert_eq!(manifest_requests_since(w, log_from), Vec::<String>::new());
    assert_descriptor_not_fetched(w, host, "1.0.0");
    assert!(w.all_containers(host).is_empty(), "a container was created");
    let status = w.status(host);
    assert_eq!(status["reason"]["code"], "preflight_failed", "{status}");
    assert_eq!(status["reason"]["check"], check, "{status}");
    let row = w.fleet_row(id);
    assert_eq!(row["reason"]["code"], "preflight_failed", "{row}");
    assert_eq!(row["reason"]["check"], check, "{row}");
    let table = w.vendor_ok(&["fleet", "--app", &w.app]);
    assert!(
        table.contains(&format!("preflight_failed:{check}")),
        "{table}"
    );
    text
}

/// `driftless preflight --json` on `host`: its exit code and the checks.
fn preflight_json(w: &World, host: &str) -> (Option<i32>, Vec<Value>) {
    let out = w.driftless(host, &["preflight", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("preflight --json: {e}: {}", stderr(&out)));
    (out.status.code(), doc["checks"].as_array().unwrap().clone())
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
}

/// Removes a container when dropped, pass or fail.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        docker_quiet(&["rm", "-f", &self.0]);
    }
}

#[test]
fn a_port_held_by_another_container_is_refused_before_any_pull() {
    let w = World::new("pf-port");
    release_with(&w, "1.0.0", "", "    ports: true\n");
    // Another app's container holds web's port.
    let squatter = Container(format!("{}-squatter", w.app));
    let published = format!("127.0.0.1:{}:8080", w.web_port);
    let image = format!("{}/web:1.0.0", w.app);
    let out = Command::new("docker")
        .args(["run", "-d", "--name", &squatter.0, "-p", &published, &image])
        .output()
        .unwrap();
    assert_success(&out, "docker run the squatter");
    let id = w.install("h");

    let text = assert_refused_before_pull(&w, "h", &id, "ports");
    assert!(
        text.contains(&format!("held by container {}", squatter.0)),
        "{text}"
    );
    let (code, checks) = preflight_json(&w, "h");
    assert_eq!(code, Some(i32::from(PREFLIGHT_FAILED)));
    let web = checks
        .iter()
        .find(|c| {
            c["expected"]
                .as_str()
                .unwrap()
                .contains(&w.web_port.to_string())
        })
        .unwrap();
    assert_eq!(web["result"], "fail", "{checks:?}");

    // The customer moves the app to a free port: the next sync converges, and the port
    // the app now holds itself passes.
    let other = free_port().unwrap();
    let set = w.driftless("h", &["config", "set", &format!("WEB_PORT={other}")]);
    assert_success(&set, "config set WEB_PORT");
    sync_pulls(&w, "h");
    assert_eq!(http_body(other), "web 1.0.0");
    let (code, checks) = preflight_json(&w, "h");
    assert_eq!(code, Some(0), "{checks:?}");
    let held = checks
        .iter()
        .find(|c| c["expected"].as_str().unwrap().contains(&other.to_string()))
        .unwrap();
    assert!(
        held["found"]
            .as_str()
            .unwrap()
            .starts_with("held by this app"),
        "{held}"
    );
}

#[test]
fn more_memory_than_the_host_has_is_refused_before_any_pull() {
    let w = World::new("pf-mem");
    // Every other check passes, and an unreachable endpoint that only warns does not block.
    let dead = free_port().unwrap();
    release_with(
        &w,
        "1.0.0",
        "",
        &format!(
            "    memory_mb: 100000000\n    cpu_cores: 1\n    disk_free_mb: 1\n    docker_api: \"1.24\"\n    compose: \"1.25\"\n    endpoints:\n      - {{name: telemetry, http: \"http://127.0.0.1:{dead}/\"}}\n    warn_only: [telemetry]\n"
        ),
    );
    // A malformed block is refused at publish, naming the field.
    let bad = w.stack.dir.path().join("bad-preflight.yaml");
    let good = std::fs::read_to_string(w.stack.dir.path().join(format!("{}-1.0.0.yaml", w.app)));
    let text = good
        .unwrap()
        .replacen("  preflight:\n", "  preflight:\n    memory: 512\n", 1);
    std::fs::write(&bad, text).unwrap();
    let out = w.vendor(&[
        "publish",
        "--app",
        &w.app,
        "--version",
        "1.0.1",
        "--compose",
        bad.to_str().unwrap(),
    ]);
    assert_refused_with_hint(
        &out,
        driftless_exit::code::INVALID_INPUT,
        "publish a bad preflight",
    );
    assert!(
        stderr(&out).contains("preflight: unknown field `memory`"),
        "{}",
        stderr(&out)
    );

    let id = w.install("h");
    let text = assert_refused_before_pull(&w, "h", &id, "memory_mb");
    assert!(text.contains("at least 100000000 MiB of memory"), "{text}");
    assert!(
        text.contains("warning: preflight check `telemetry`"),
        "{text}"
    );

    let out = w.driftless("h", &["preflight"]);
    assert_refused_with_hint(&out, PREFLIGHT_FAILED, "preflight");
    let table = stdout(&out);
    assert!(table.starts_with("CHECK"), "{table}");
    let (_, checks) = preflight_json(&w, "h");
    for (name, result) in [
        ("memory_mb", "fail"),
        ("cpu_cores", "pass"),
        ("disk_free_mb", "pass"),
        ("docker_api", "pass"),
        ("compose", "pass"),
        ("telemetry", "warn"),
    ] {
        assert_eq!(check(&checks, name)["result"], result, "{checks:?}");
    }
}

#[test]
fn an_unreachable_endpoint_is_refused_before_any_pull_until_its_value_is_fixed() {
    let w = World::new("pf-endpoint");
    let dead = free_port().unwrap();
    release_with(
        &w,
        "1.0.0",
        &format!("    - name: DB_ADDR\n      type: string\n      default: \"127.0.0.1:{dead}\"\n"),
        "    endpoints:\n      - {name: database, tcp: \"${DB_ADDR}\"}\n",
    );
    let id = w.install("h");
    let text = assert_refused_before_pull(&w, "h", &id, "database");
    assert!(
        text.contains(&format!("TCP 127.0.0.1:{dead} reachable")),
        "{text}"
    );

    // The database the customer really has.
    let db = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("DB_ADDR={}", db.local_addr().unwrap());
    assert_success(&w.driftless("h", &["config", "set", &addr]), "config set");
    sync_pulls(&w, "h");
    w.assert_runs("h", "1.0.0");
}

/// Runs `driftless args…` for `host` on a fresh pseudo-terminal, answering each prompt
/// in `answers` (a text that appears, then the line to type) once it appears; returns
/// what the terminal showed and the exit code.
fn on_a_terminal(w: &World, host: &str, args: &[&str], answers: &[(&str, &str)]) -> (String, i32) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave_path = Path::new(name.to_str().unwrap()).to_path_buf();
    let open_slave = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slave_path)
            .unwrap()
    };
    let mut child = w
        .cli(host)
        .args(args)
        .stdin(Stdio::from(open_slave()))
        .stdout(Stdio::from(open_slave()))
        .stderr(Stdio::from(open_slave()))
        .spawn()
        .unwrap();
    let mut reader = std::fs::File::from(master.try_clone().unwrap());
    let mut writer = std::fs::File::from(master);
    let shown = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&shown);
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        // Ends with EIO once the child has exited and closed the terminal.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut seen = 0;
    for (prompt, answer) in answers {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = shown.lock().unwrap().clone();
            if let Some(at) = text[seen..].find(prompt) {
                seen += at + prompt.len();
                break;
            }
            assert!(Instant::now() < deadline, "no prompt {prompt:?}: {text}");
            std::thread::sleep(Duration::from_millis(20));
        }
        writer.write_all(format!("{answer}\n").as_bytes()).unwrap();
    }
    let status = child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // The reader drains what the child wrote last; its text ends with the final message.
    while !shown.lock().unwrap().contains("saved") && Instant::now() < deadline && status.success()
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = shown.lock().unwrap().clone();
    (text, status.code().unwrap_or(-1))
}

#[test]
fn values_are_set_before_the_first_start_from_a_file_the_command_line_or_a_terminal() {
    let w = World::new("pf-config");
    let secret_var = "    - name: API_TOKEN\n      type: string\n      required: true\n      secret: true\n      description: The token of your account\n";
    release_with(&w, "1.0.0", secret_var, "    ports: true\n");
    let log_from = registry_log_len(&w);

    // Host a: values from a TOML file (the secret) and --set, at install.
    let values = w.stack.dir.path().join("values.toml");
    std::fs::write(
        &values,
        "API_TOKEN = \"tok-from-file-123\"\nGREETING = \"Howdy\"\n",
    )
    .unwrap();
    let port = free_port().unwrap();
    let project = w.owned_project("a");
    let out = w
        .cli("a")
        .args(["install", "--server", &w.stack.url()])
        .args(["--license", &w.license])
        .args(["--root-fingerprint", &w.stack.fingerprint])
        .args(["--project", &project])
        .args(["--values", values.to_str().unwrap()])
        .args(["--set", &format!("WEB_PORT={port}")])
        .output()
        .unwrap();
    assert_success(&out, "install --values --set");
    assert!(
        !stderr(&out).contains("tok-from-file-123"),
        "{}",
        stderr(&out)
    );
    let get = |host: &str, name: &str| {
        stdout(&w.driftless(host, &["config", "get", name]))
            .trim()
            .to_string()
    };
    assert_eq!(get("a", "GREETING"), "Howdy");
    assert_eq!(get("a", "WEB_PORT"), port.to_string());
    let list = stdout(&w.driftless("a", &["config", "list"]));
    assert!(list.contains("API_TOKEN\tstring\t(secret, set)"), "{list}");
    assert_success(
        &w.driftless("a", &["config", "init"]),
        "config init off a terminal, all set",
    );
    // Nothing was pulled or started by install and config.
    assert_eq!(manifest_requests_since(&w, log_from), Vec::<String>::new());
    assert!(w.all_containers("a").is_empty());
    sync_pulls(&w, "a");
    assert_eq!(http_body(port), "web 1.0.0");

    // Host c: the values piped to standard input (`--values -`), so the secret is on
    // neither the command line nor the disk.
    let mut install_c = w
        .cli("c")
        .args(["install", "--server", &w.stack.url()])
        .args(["--license", &w.license])
        .args(["--root-fingerprint", &w.stack.fingerprint])
        .args(["--project", &w.owned_project("c")])
        .args(["--values", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    install_c
        .stdin
        .take()
        .unwrap()
        .write_all(b"API_TOKEN = \"tok-from-stdin-789\"\nGREETING = \"Piped\"\n")
        .unwrap();
    let out = install_c.wait_with_output().unwrap();
    assert_success(&out, "install --values -");
    assert_eq!(get("c", "GREETING"), "Piped");
    let list = stdout(&w.driftless("c", &["config", "list"]));
    assert!(list.contains("API_TOKEN\tstring\t(secret, set)"), "{list}");

    // Host b: installed without values; off a terminal, config init lists what is missing.
    w.install("b");
    let out = w.driftless("b", &["config", "init"]);
    assert_refused_with_hint(&out, CONFIG_MISSING, "config init off a terminal");
    assert!(
        stdout(&out).contains("API_TOKEN\tstring\tThe token of your account"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("required values are not set: API_TOKEN"),
        "{}",
        stderr(&out)
    );

    // On a terminal it asks for every value, with description and default; the secret
    // is not echoed; an invalid port is asked again.
    let b_port = free_port().unwrap().to_string();
    let (shown, code) = on_a_terminal(
        &w,
        "b",
        &["config", "init"],
        &[
            (
                "API_TOKEN (string, required) (not echoed): ",
                "tok-typed-456",
            ),
            ("GREETING (string) [Hello]: ", ""),
            (&format!("WEB_PORT (port) [{}]: ", w.web_port), "not-a-port"),
            ("try again", &b_port),
            (&format!("API_PORT (port) [{}]: ", w.api_port), ""),
        ],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("API_TOKEN: The token of your account"),
        "{shown}"
    );
    assert!(
        !shown.contains("tok-typed-456"),
        "the secret was echoed: {shown}"
    );
    assert_eq!(get("b", "WEB_PORT"), b_port);
    assert_eq!(get("b", "GREETING"), "Hello");
    let revealed = w.driftless("b", &["config", "get", "API_TOKEN", "--reveal"]);
    assert_eq!(stdout(&revealed).trim(), "tok-typed-456");
    assert_success(
        &w.driftless("b", &["config", "init"]),
        "config init after the terminal",
    );
}
