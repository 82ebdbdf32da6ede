//! What a release needs of a host before anything is pulled (`x-driftless.preflight`),
//! as the signed release document carries it.

use serde::{Deserialize, Serialize};

/// The host requirements of a release. Every field is optional; an empty one checks
/// nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preflight {
    /// The fewest CPU cores the engine may report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_cores: Option<u64>,
    /// The least memory, in MiB, the engine may report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// The least free disk, in MiB, where the engine keeps images and volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free_mb: Option<u64>,
    /// The oldest Docker Engine API version (`1.41`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_api: Option<String>,
    /// The oldest compose tool version (`1.29.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose: Option<String>,
    /// The host ports the release's services publish, read from its compose file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PublishedPort>,
    /// TCP or HTTP endpoints the host must reach (a database from a config value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    /// Checks that only warn when they do not pass (by check name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warn_only: Vec<String>,
}

impl Preflight {
    /// Whether the release declares no preflight checks.
    pub fn is_empty(&self) -> bool {
        *self == Preflight::default()
    }
}

/// One host port a service publishes, as written in the compose file (it may name
/// config values: `${WEB_PORT}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    /// The compose service publishing it.
    pub service: String,
    /// The host address it binds, when the file names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// The host port (or `a-b` range).
    pub host_port: String,
    /// `tcp` or `udp`.
    #[serde(default = "tcp")]
    pub protocol: String,
}

fn tcp() -> String {
    "tcp".into()
}

/// An endpoint the host must reach before the release is pulled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The check's name, as reported (`database`).
    pub name: String,
    /// `host:port` to connect to, when a TCP check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    /// The URL to GET, when an HTTP check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// The HTTP status the URL must answer (any below 400 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// The names of the checks that are not endpoints.
pub const BUILTIN_CHECKS: &[&str] = &[
    "cpu_cores",
    "memory_mb",
    "disk_free_mb",
    "docker_api",
    "compose",
    "ports",
];
