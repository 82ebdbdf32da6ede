//! The install API: registration and check-in bodies, and how a check-in is signed.

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::status::InstallStatus;

/// Header carrying the install's request signature.
pub const SIGNATURE_HEADER: &str = "x-driftless-signature";
/// Header carrying the Unix time in milliseconds the request was signed at. An install
/// never signs two requests with the same value, and the control plane accepts a value
/// only if it is newer than the last one it accepted from that install, so a captured
/// request cannot be replayed.
pub const TIMESTAMP_HEADER: &str = "x-driftless-timestamp";
/// The smallest value a millisecond timestamp can have today (it is 1973 in
/// milliseconds, and 5138 in seconds): anything below it was sent by a CLI that signed
/// with second-resolution timestamps, which could be replayed.
pub const MIN_TIMESTAMP_MS: i64 = 100_000_000_000;
/// Header naming the install on signed requests whose path carries no install id
/// (`GET /v1/artifacts/{digest}`).
pub const INSTALL_HEADER: &str = "x-driftless-install";
/// Header on every check-in answer (200 and 304): the newest root version.
pub const ROOT_VERSION_HEADER: &str = "x-driftless-root-version";
/// Header on every check-in answer (200 and 304) of a control plane that signs audit
/// checkpoints: the tree size of its newest one. A host that saw another asks for it
/// (`POST /v1/installs/{id}/audit-checkpoint`) and witnesses it; older CLIs ignore it.
pub const AUDIT_CHECKPOINT_HEADER: &str = "x-driftless-audit-checkpoint";
/// The most root versions an install walks in one check-in.
pub const MAX_ROOT_STEPS: u64 = 64;
/// The largest root document an install accepts.
pub const MAX_ROOT_BYTES: usize = 512 * 1024;
/// How far a signed request's timestamp may be from the server's clock.
pub const MAX_CLOCK_SKEW_S: i64 = 300;
/// How long a `driftless registry-login` credential is accepted, in seconds.
pub const REGISTRY_LOGIN_LIFETIME_S: u64 = 600;

/// `POST /v1/installs`: register a host with a license key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// The license key (used only here).
    pub license_key: String,
    /// Hex of the host's Ed25519 public key.
    pub public_key: String,
    /// The host's name, for the vendor's fleet view.
    pub hostname: String,
    /// e.g. `linux/amd64`.
    pub platform: String,
    /// The CLI's version.
    pub cli_version: String,
}

/// The answer to a registration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegisterResponse {
    /// The new install's id.
    pub install_id: String,
    /// The app the license is for.
    pub app: String,
    /// The channel the install follows.
    pub channel: String,
}

/// `POST /v1/installs/{id}/checkin`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckinRequest {
    /// The release counter the host runs, if any.
    pub release_counter: Option<u64>,
    /// The version the host runs, if any.
    pub version: Option<String>,
    /// The host's state.
    pub status: InstallStatus,
    /// The CLI's version.
    pub cli_version: String,
    /// e.g. `linux/amd64`.
    pub platform: String,
    /// Free bytes where images are stored, if known.
    pub free_disk_bytes: Option<u64>,
    /// The version the host tried to apply, when it is not the one it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<String>,
    /// Why the host is not converged, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<crate::status::Reason>,
    /// The host's update policy as the customer set it: `auto`, `approve`, or
    /// `window <windows>` (absent from CLIs that predate policies: `auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// A release the host downloaded and verified that waits for the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<WaitingRelease>,
}

/// A release a host holds back because of its update policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingRelease {
    /// Its version.
    pub version: String,
    /// Whether the vendor marked it urgent (a security fix) in the signed release.
    #[serde(default)]
    pub urgent: bool,
    /// What it waits for: `approval` or `window`.
    pub waits_for: String,
    /// Unix seconds of the next update window's opening, under the `window` policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_window_at: Option<i64>,
}

/// Where and how to pull the release's blobs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegistryAccess {
    /// `host:port` of the registry.
    pub host: String,
    /// Whether to use plain HTTP (loopback registries only).
    #[serde(default)]
    pub insecure: bool,
    /// A JWT good for pulling exactly this release's repositories.
    pub token: String,
    /// Seconds the token is valid for.
    pub expires_in: u64,
    /// RFC 3339 time the token was issued.
    pub issued_at: String,
}

/// `200` answer to a check-in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckinResponse {
    /// The director-signed assignment (absent when the channel has no release yet).
    pub assignment: Option<Envelope>,
    /// The release-signed release document the assignment names.
    pub release: Option<Envelope>,
    /// Registry access for the release.
    pub registry: Option<RegistryAccess>,
    /// When to check in next, in seconds.
    pub next_checkin_s: u64,
    /// Why there is nothing to apply, or a warning about the assigned release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why the assignment is not the newest release (e.g. waiting for a wave).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<crate::status::Reason>,
}

/// `200` answer to `POST /v1/installs/{id}/registry-login`: a credential for
/// `docker login -u <username> --password-stdin`, good for pulling the install's
/// assigned release only.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegistryLoginResponse {
    /// The user name: the install id.
    pub username: String,
    /// The credential the control plane's token endpoint accepts.
    pub password: String,
    /// Seconds the credential is accepted for.
    pub expires_in: u64,
}

/// `200` answer to `POST /v1/installs/{id}/registry-token`: a fresh registry token for
/// the release the install is assigned now, asked for when the one it pulls with is
/// about to run out.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegistryTokenResponse {
    /// The version of the release the token pulls.
    pub version: String,
    /// Registry access for that release.
    pub registry: RegistryAccess,
}

/// `POST /v1/installs/{id}/uninstall`: the host removed (or is removing) the app and
/// tells the control plane, which lists the install as uninstalled and refuses its key
/// from then on.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UninstallRequest {
    /// Whether the host kept the app's volumes (`driftless uninstall --keep-data`).
    #[serde(default)]
    pub keep_data: bool,
    /// The version the host ran when it was uninstalled.
    #[serde(default)]
    pub version: Option<String>,
}

/// The bytes an install signs for a request: method, path, the millisecond timestamp
/// and the body's digest. (v1 signed a timestamp in seconds.)
pub fn request_signing_input(method: &str, path: &str, signed_at_ms: i64, body: &[u8]) -> Vec<u8> {
    let body_digest = crate::digest::Digest::of(body);
    format!("driftless-request-v2\n{method}\n{path}\n{signed_at_ms}\n{body_digest}").into_bytes()
}
