//! The release's HTTP health probe: a GET the host makes once the services are up.

use driftless_wire::release::{ConfigVar, HttpProbe};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The probe did not get its status before the deadline.
#[derive(Debug)]
pub struct ProbeFailed {
    /// The URL probed.
    pub url: String,
    /// What the last attempt saw.
    pub last: String,
}

impl std::fmt::Display for ProbeFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "health probe {} failed: {}", self.url, self.last)
    }
}

impl std::error::Error for ProbeFailed {}

/// Replaces `${NAME}` in the probe's URL with the config value or its default.
pub fn probe_url(
    probe: &HttpProbe,
    schema: &[ConfigVar],
    values: &BTreeMap<String, String>,
) -> String {
    let mut url = probe.url.clone();
    for var in schema {
        if let Some(v) = values.get(&var.name).or(var.default.as_ref()) {
            url = url.replace(&format!("${{{}}}", var.name), v);
        }
    }
    url
}

/// GETs `url` until it answers `status` or `timeout` passes.
pub async fn wait(url: &str, status: u16, timeout: Duration) -> Result<(), ProbeFailed> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| ProbeFailed {
            url: url.to_string(),
            last: e.to_string(),
        })?;
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        match client.get(url).send().await {
            Ok(r) if r.status().as_u16() == status => return Ok(()),
            Ok(r) => last = format!("answered HTTP {} instead of {status}", r.status().as_u16()),
            Err(e) => {
                last = if e.is_connect() {
                    "connection refused".into()
                } else {
                    e.to_string()
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(ProbeFailed {
                url: url.to_string(),
                last: format!("{last} after {}s", timeout.as_secs()),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
