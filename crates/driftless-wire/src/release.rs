//! The release document (signed by the vendor's release key) and the per-install
//! assignment (signed by the control plane's director key).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::digest::Digest;

/// One service image, pinned by digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseImage {
    /// The compose service that runs it.
    pub service: String,
    /// Repository path in the registry, without host (e.g. `acme/web`).
    pub repository: String,
    /// Manifest digest.
    pub digest: Digest,
    /// Platforms the image is built for, e.g. `linux/amd64`.
    #[serde(default)]
    pub platforms: Vec<String>,
    /// Unpacked size in bytes as the vendor's engine measured it (for disk checks).
    #[serde(default)]
    pub size: u64,
}

impl ReleaseImage {
    /// `repository@digest`, without registry host.
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }
}

/// The compose file, stored in the registry as an OCI artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescriptorRef {
    /// Repository path in the registry, without host (e.g. `acme/compose`).
    pub repository: String,
    /// Digest of the OCI manifest that wraps the compose file.
    pub manifest_digest: Digest,
    /// Digest of the compose file itself (the manifest's only layer).
    pub digest: Digest,
    /// Size of the compose file in bytes.
    pub size: u64,
}

/// The type of a customer config value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigType {
    /// Any UTF-8 string without newlines.
    String,
    /// A signed 64-bit integer.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A TCP/UDP port, 1..=65535.
    Port,
}

impl ConfigType {
    /// The type's name as written in `x-driftless`.
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::String => "string",
            ConfigType::Integer => "integer",
            ConfigType::Boolean => "boolean",
            ConfigType::Port => "port",
        }
    }
}

/// One customer-settable config value declared by the release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigVar {
    /// The `${NAME}` the compose file uses.
    pub name: String,
    /// The value's type.
    #[serde(rename = "type")]
    pub kind: ConfigType,
    /// Used when the customer sets nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Whether a value must be set before the release can run.
    #[serde(default)]
    pub required: bool,
    /// Whether the value is a secret (never printed).
    #[serde(default)]
    pub secret: bool,
    /// What the value is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// How the CLI decides a release is healthy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSpec {
    /// Seconds to wait for every service to be running (and healthy, where it has a check).
    pub timeout_s: u64,
    /// Seconds a service without a healthcheck must stay running, on the same restart
    /// count, before it counts as ready ([`DEFAULT_SETTLE_S`] when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_s: Option<u64>,
    /// An HTTP probe that must answer before the timeout, after the services are healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<HttpProbe>,
}

impl Default for HealthSpec {
    fn default() -> Self {
        HealthSpec {
            timeout_s: 120,
            settle_s: None,
            probe: None,
        }
    }
}

/// The settle window of a release that declares none: long enough that a service
/// which crashes right after it starts is caught, short enough not to slow upgrades.
pub const DEFAULT_SETTLE_S: u64 = 5;

impl HealthSpec {
    /// The settle window in force: the declared one, else [`DEFAULT_SETTLE_S`].
    pub fn settle_s(&self) -> u64 {
        self.settle_s.unwrap_or(DEFAULT_SETTLE_S)
    }
}

/// An HTTP GET the host makes to decide the release works.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpProbe {
    /// The URL; `${NAME}` is replaced by the customer's config value (e.g. a port).
    pub url: String,
    /// The status that means healthy.
    #[serde(default = "ok_status")]
    pub status: u16,
}

fn ok_status() -> u16 {
    200
}

/// A CLI build offered with a release (used by self-update).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliBinary {
    /// e.g. `linux/amd64`.
    pub platform: String,
    /// The CLI's version.
    pub version: semver::Version,
    /// Digest of the binary.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
}

/// The signed release document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseDocument {
    /// Always `release`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The app's name.
    pub app: String,
    /// Semver version.
    pub version: semver::Version,
    /// Strictly increasing per app, whatever the version says.
    pub release_counter: u64,
    /// Unix seconds the vendor signed it.
    pub created_at: i64,
    /// Unix seconds after which it must not be installed.
    pub expires: i64,
    /// Every image, pinned by digest.
    pub images: Vec<ReleaseImage>,
    /// The compose file.
    pub descriptor: DescriptorRef,
    /// The values the customer may or must set.
    #[serde(default)]
    pub config_schema: Vec<ConfigVar>,
    /// How health is judged.
    #[serde(default)]
    pub health: HealthSpec,
    /// The oldest CLI that can apply this release.
    pub min_cli_version: semver::Version,
    /// The lowest release counter an install that verified this release may go back to.
    #[serde(default)]
    pub rollback_floor: u64,
    /// CLI builds offered with this release.
    #[serde(default)]
    pub cli: Vec<CliBinary>,
    /// Release notes (Markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Marked urgent by the vendor (a security fix): hosts say so, and still wait for
    /// their customer's approval or window. Signed, so a control plane cannot fake it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub urgent: bool,
    /// Run-once jobs around the switch and the volumes that hold the app's data.
    #[serde(default, skip_serializing_if = "Migrations::is_empty")]
    pub migrations: Migrations,
    /// What the release needs of a host, checked before anything is pulled.
    #[serde(default, skip_serializing_if = "crate::preflight::Preflight::is_empty")]
    pub preflight: crate::preflight::Preflight,
    /// The SBOM of each service that has one, pushed beside its image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sboms: Vec<SbomRef>,
}

/// A service's SBOM, stored in the registry beside its image under the tag
/// `sha256-<image digest hex>.sbom` (distribution 2.8 has no referrers API) and named
/// here by digest, so the signature covers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbomRef {
    /// The compose service whose image it describes.
    pub service: String,
    /// Repository it is stored in (the image's).
    pub repository: String,
    /// Digest of the OCI manifest that wraps it.
    pub manifest_digest: Digest,
    /// Digest of the SBOM document itself.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// `application/vnd.cyclonedx+json` or `application/spdx+json`.
    pub media_type: String,
}

/// The tag an image's SBOM is stored under: `sha256-<hex>.sbom`.
pub fn sbom_tag(image: &Digest) -> String {
    format!("sha256-{}.sbom", image.hex())
}

/// The run-once jobs of a release (compose services run to completion, never by
/// `up`) and the named volumes the host snapshots before them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migrations {
    /// Services run, in order, before the new release starts (e.g. a schema migration).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_upgrade: Vec<String>,
    /// Services run, in order, once the new release is healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_upgrade: Vec<String>,
    /// Seconds each job may run before it is stopped and counted as failed
    /// ([`DEFAULT_JOB_TIMEOUT_S`] when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_timeout_s: Option<u64>,
    /// Compose volume names (keys of the file's `volumes:`) holding the app's data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_volumes: Vec<String>,
}

/// How long a job may run when the release declares no `jobs.timeout_s`.
pub const DEFAULT_JOB_TIMEOUT_S: u64 = 600;

impl Migrations {
    /// Whether the release declares neither jobs nor data volumes.
    pub fn is_empty(&self) -> bool {
        self.pre_upgrade.is_empty()
            && self.post_upgrade.is_empty()
            && self.data_volumes.is_empty()
            && self.job_timeout_s.is_none()
    }

    /// Whether `service` is a job (run by the host, never started by `up`).
    pub fn is_job(&self, service: &str) -> bool {
        self.pre_upgrade
            .iter()
            .chain(&self.post_upgrade)
            .any(|s| s == service)
    }

    /// The job timeout in force.
    pub fn job_timeout_s(&self) -> u64 {
        self.job_timeout_s.unwrap_or(DEFAULT_JOB_TIMEOUT_S)
    }
}

impl ReleaseDocument {
    /// Every repository an install must pull from for this release.
    pub fn repositories(&self) -> Vec<String> {
        let mut repos: Vec<String> = self.images.iter().map(|i| i.repository.clone()).collect();
        repos.push(self.descriptor.repository.clone());
        repos.sort();
        repos.dedup();
        repos
    }
}

/// The director-signed statement of which release one install must run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Always `assignment`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The install this is for.
    pub install_id: String,
    /// The app.
    pub app: String,
    /// The install's channel.
    pub channel: String,
    /// Version of the assigned release.
    pub version: semver::Version,
    /// Digest of the release envelope's payload bytes.
    pub release_digest: Digest,
    /// The assigned release's counter.
    pub release_counter: u64,
    /// Strictly increasing per install.
    pub sequence: u64,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds; short (hours).
    pub expires: i64,
    /// Whether the install may move to a lower release counter.
    #[serde(default)]
    pub allow_downgrade: bool,
    /// The license's entitlements, signed with the rest; omitted when there are none,
    /// so an assignment without any keeps the bytes it always had.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub entitlements: crate::entitlements::Entitlements,
}
