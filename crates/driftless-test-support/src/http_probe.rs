//! Asks what an app serves on a loopback port, the way its users would see it.

use std::time::Duration;

/// How long one probe may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The trimmed body served on `http://127.0.0.1:port/`; panics unless it answers 2xx.
pub fn http_body(port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/");
    let resp = reqwest::blocking::Client::new()
        .get(&url)
        .timeout(TIMEOUT)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(
        resp.status().is_success(),
        "GET :{port}/ answered {}",
        resp.status()
    );
    resp.text()
        .unwrap_or_else(|e| panic!("GET {url}: cannot read the body: {e}"))
        .trim()
        .to_string()
}
