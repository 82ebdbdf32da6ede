#![allow(clippy::unwrap_used)]
//! `serve` on the database its URL names: PostgreSQL end to end (init, serve, a
//! database that goes away and comes back), and the refusals at start: a database
//! that cannot be reached, and one a newer Driftless migrated.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use driftless_test_support::postgres::private_cluster;
use driftless_test_support::process::{assert_exit, stderr};
use driftless_test_support::stack::{free_port, workspace_bin};

/// How long `serve` may take to start, or to serve again after the database is back.
const TIMEOUT: Duration = Duration::from_secs(30);

/// `driftless-vendor init --json` with extra `args`; returns the operator token.
fn init(data: &Path, addr: &str, args: &[&str]) -> String {
    let out = Command::new(workspace_bin("driftless-vendor").unwrap())
        .args(["init", "--json", "--registry-insecure", "--listen", addr])
        .args(["--registry-host", "127.0.0.1:1", "--data-dir"])
        .arg(data)
        .args(args)
        .env_remove("DRIFTLESS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "init: {}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["operator_token"].as_str().unwrap().to_owned()
}

/// `serve` on `data`, with extra `args`, run to its end.
fn serve_output(data: &Path, args: &[&str]) -> Output {
    Command::new(workspace_bin("driftless-vendor").unwrap())
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(args)
        .env_remove("DRIFTLESS_DATABASE_URL")
        .output()
        .unwrap()
}

/// A running `serve`; killed on drop.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` on `data` and waits until `addr` accepts connections.
fn spawn_serve(data: &Path, addr: &str, log: &Path) -> Serve {
    let child = Command::new(workspace_bin("driftless-vendor").unwrap())
        .args(["serve", "--data-dir"])
        .arg(data)
        .env_remove("DRIFTLESS_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut serve = Serve(child);
    let deadline = Instant::now() + TIMEOUT;
    while TcpStream::connect(addr).is_err() {
        if let Some(status) = serve.0.try_wait().unwrap() {
            panic!(
                "serve exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "serve did not start on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    serve
}

#[test]
fn init_and_serve_refuse_an_unreachable_postgres_naming_the_url_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("control");
    let addr = format!("127.0.0.1:{}", free_port().unwrap());
    init(&data, &addr, &[]);
    let port = free_port().unwrap();
    let url = format!("postgres://driftless:hunter2@127.0.0.1:{port}/driftless");

    // init refuses it before writing anything.
    let fresh = dir.path().join("never-made");
    let out = Command::new(workspace_bin("driftless-vendor").unwrap())
        .args(["init", "--data-dir"])
        .arg(&fresh)
        .args(["--database-url", &url])
        .output()
        .unwrap();
    assert_exit(
        &out,
        driftless_exit::code::UNREACHABLE,
        "init on a dead database",
    );
    assert!(!stderr(&out).contains("hunter2"), "{}", stderr(&out));
    assert!(!fresh.exists(), "init left a data directory behind");

    let out = serve_output(&data, &["--database-url", &url]);
    assert_exit(
        &out,
        driftless_exit::code::UNREACHABLE,
        "serve on a dead database",
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "postgres://driftless:***@127.0.0.1:{port}/driftless"
        )),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
    assert!(err.contains("hint: start the database server"), "{err}");
}

#[test]
fn serve_refuses_a_database_migrated_by_a_newer_driftless() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("control");
    let addr = format!("127.0.0.1:{}", free_port().unwrap());
    init(&data, &addr, &[]);
    let db = data.join("driftless.db");
    // A migration this build does not know, as a newer Driftless would have left it.
    let newer = "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                 execution_time) VALUES (100000, 'newer', 1, x'00', 0)";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use sqlx::Connection as _;
        let url = format!("sqlite://{}", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(newer).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    });
    let out = serve_output(&data, &[]);
    assert_exit(
        &out,
        driftless_exit::code::FAILURE,
        "serve on a newer schema",
    );
    let err = stderr(&out);
    assert!(
        err.contains("at version 100000") && err.contains("expects version"),
        "{err}"
    );
}

/// GET /v1/apps with the operator token: the status, `Retry-After`, and the body.
fn list_apps(addr: &str, token: &str) -> (u16, Option<String>, String) {
    let response = reqwest::blocking::Client::new()
        .get(format!("http://{addr}/v1/apps"))
        .bearer_auth(token)
        .timeout(TIMEOUT)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.text().unwrap())
}

#[test]
fn serve_on_postgres_answers_503_while_it_is_down_and_resumes_by_itself() {
    let Some(cluster) = private_cluster() else {
        return; // the notice says why
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("control");
    let addr = format!("127.0.0.1:{}", free_port().unwrap());
    // init saves the URL in settings.toml and migrates the database.
    let token = init(&data, &addr, &["--database-url", &cluster.admin_url()]);
    assert!(
        !data.join("driftless.db").exists(),
        "no SQLite file on PostgreSQL"
    );
    let _serve = spawn_serve(&data, &addr, &dir.path().join("serve.log"));
    let vendor = |args: &[&str]| {
        let out = Command::new(workspace_bin("driftless-vendor").unwrap())
            .env("DRIFTLESS_SERVER", format!("http://{addr}"))
            .env("DRIFTLESS_TOKEN", &token)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    vendor(&["app", "create", "acme"]);

    cluster.stop().unwrap();
    let (status, retry_after, body) = list_apps(&addr, &token);
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert!(
        !body.contains("postgres://"),
        "the cause stays in the log: {body}"
    );

    cluster.start_again().unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let body = loop {
        let (status, _, body) = list_apps(&addr, &token);
        if status == 200 {
            break body;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "serve did not resume: {body}");
    };
    assert!(body.contains("acme"), "{body}");
    vendor(&["app", "create", "beta"]);
}
