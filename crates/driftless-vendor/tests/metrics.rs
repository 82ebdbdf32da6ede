#![allow(clippy::unwrap_used)]
//! `serve --metrics-token-file`: Prometheus scrapes `/metrics` with the scrape token,
//! the fleet gauges appear once the aggregate ran, and a token file that would make a
//! guessable token is refused before anything starts.

use std::ffi::OsStr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use driftless_test_support::control_plane::{init_data_dir, spawn_serve_with};
use driftless_test_support::process::assert_refused_with_hint;
use driftless_test_support::stack::{free_port, workspace_bin};

const SCRAPE_TOKEN: &str = "dlscrape_0123456789abcdef0123456789abcdef";

/// A running `serve`; killed on drop.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET /metrics` with `token`: the status and the body.
fn scrape(addr: &str, token: &str) -> (u16, String) {
    get(addr, "/metrics", token)
}

/// `GET path` with `token`: the status and the body.
fn get(addr: &str, path: &str, token: &str) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

#[test]
fn prometheus_scrapes_with_the_token_file_and_sees_the_fleet_gauges() {
    let vendor = workspace_bin("driftless-vendor").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("control");
    let addr = format!("127.0.0.1:{}", free_port().unwrap());
    let init = init_data_dir(&vendor, &data, &addr).unwrap();
    let token_file = dir.path().join("scrape-token");
    std::fs::write(&token_file, format!("{SCRAPE_TOKEN}\n")).unwrap();
    let args = [OsStr::new("--metrics-token-file"), token_file.as_os_str()];
    let log = dir.path().join("serve.log");
    let _serve = Serve(spawn_serve_with(&vendor, &data, &log, &addr, &args).unwrap());

    assert_eq!(scrape(&addr, "dlscrape_not_it").0, 401);
    // The aggregate runs as serve starts; wait for its first gauges.
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, body) = scrape(&addr, SCRAPE_TOKEN);
        assert_eq!(status, 200, "{body}");
        if body.contains("driftless_fleet_aggregate_timestamp_seconds ") {
            break body;
        }
        assert!(Instant::now() < deadline, "no fleet gauges: {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        body.contains("driftless_fleet_stale_after_seconds 900"),
        "{body}"
    );
    assert!(body.contains("process_resident_memory_bytes "), "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");
    // The operator token reads it too; the scrape token reads nothing else.
    assert_eq!(scrape(&addr, &init.token).0, 200);
    assert_eq!(get(&addr, "/v1/apps", SCRAPE_TOKEN).0, 401);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logged.contains(SCRAPE_TOKEN),
        "the scrape token was logged"
    );
}

#[test]
fn a_short_scrape_token_is_refused_before_serving() {
    let vendor = workspace_bin("driftless-vendor").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("control");
    let addr = format!("127.0.0.1:{}", free_port().unwrap());
    init_data_dir(&vendor, &data, &addr).unwrap();
    let token_file = dir.path().join("scrape-token");
    std::fs::write(&token_file, "short\n").unwrap();
    let out = Command::new(&vendor)
        .args(["serve", "--data-dir"])
        .arg(&data)
        .arg("--metrics-token-file")
        .arg(&token_file)
        .output()
        .unwrap();
    assert_refused_with_hint(
        &out,
        driftless_exit::code::INVALID_INPUT,
        "a short scrape token",
    );
}
