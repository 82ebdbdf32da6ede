//! Bodies of the vendor API (operator-token authenticated).

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;

/// The JSON body of every error answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `license_revoked`.
    pub code: String,
    /// One line for a person: what failed, about what.
    pub message: String,
    /// What to do about it, when there is something to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// `POST /v1/apps`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateApp {
    /// Lowercase name; also the registry namespace.
    pub name: String,
}

/// An app as listed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AppInfo {
    /// The app's name.
    pub name: String,
    /// Its channels.
    pub channels: Vec<ChannelInfo>,
}

/// `POST /v1/apps/{app}/channels`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateChannel {
    /// e.g. `stable`.
    pub name: String,
}

/// A channel and the release it points at.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChannelInfo {
    /// e.g. `stable`.
    pub name: String,
    /// The version the channel points at, if any.
    pub version: Option<String>,
}

/// `POST /v1/customers`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateCustomer {
    /// The customer's name.
    pub name: String,
}

/// A customer as listed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CustomerInfo {
    /// The customer's name.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// `POST /v1/licenses`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateLicense {
    /// Customer name.
    pub customer: String,
    /// App name.
    pub app: String,
    /// Channel name.
    pub channel: String,
    /// What the license allows; absent: everything, forever.
    #[serde(default)]
    pub terms: LicenseTermsInfo,
}

/// What a license allows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseTermsInfo {
    /// Unix seconds it expires at; `None`: never.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Seconds after expiry during which installs keep running and are told.
    #[serde(default)]
    pub grace_s: i64,
    /// Most installs active at once; `None`: no limit.
    #[serde(default)]
    pub seats: Option<u32>,
    /// The channels its installs may follow; empty: any channel of the app.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Typed values signed into every assignment of its installs.
    #[serde(default)]
    pub entitlements: crate::entitlements::Entitlements,
}

/// `GET /v1/licenses/{id}`: one license with its terms and how many seats are taken.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LicenseDetail {
    /// The license, without its key.
    pub license: LicenseInfo,
    /// What it allows.
    pub terms: LicenseTermsInfo,
}

/// A license as listed; `key` is only present in the answer to its creation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LicenseInfo {
    /// The license's id (not secret).
    pub id: String,
    /// Customer name.
    pub customer: String,
    /// App name.
    pub app: String,
    /// Channel name.
    pub channel: String,
    /// Whether it was revoked.
    pub revoked: bool,
    /// The secret key, shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `POST /v1/apps/{app}/releases`: upload a signed release document.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UploadRelease {
    /// The release-signed envelope.
    pub envelope: Envelope,
}

/// A release as listed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReleaseInfo {
    /// The app.
    pub app: String,
    /// Semver version.
    pub version: String,
    /// The release counter.
    pub release_counter: u64,
    /// Digest of the signed payload.
    pub digest: String,
    /// Unix seconds.
    pub created_at: i64,
    /// active, deprecated or yanked.
    #[serde(default = "active")]
    pub state: String,
}

/// `GET /v1/apps/{app}/releases/{version}`: a release and its signed document.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReleaseDetail {
    /// What the release list shows (its fields are flattened into this object).
    #[serde(flatten)]
    pub info: ReleaseInfo,
    /// The release-signed envelope as uploaded.
    pub envelope: Envelope,
}

/// The largest artifact (a CLI binary) the control plane stores.
pub const MAX_ARTIFACT_BYTES: u64 = 256 << 20;

/// An artifact the control plane stores, as `PUT /v1/artifacts/{digest}` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactInfo {
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The largest support bundle a control plane accepts unless its settings say
/// otherwise (`max_support_bundle_bytes`).
pub const DEFAULT_MAX_SUPPORT_BUNDLE_BYTES: u64 = 20 << 20;

/// A support bundle an install uploaded, as the upload and the vendor's list answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportBundleInfo {
    /// Its number, unique across the control plane (`--bundle N`).
    pub id: u64,
    /// The install that uploaded it.
    pub install_id: String,
    /// Its size in bytes.
    pub size: u64,
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// Unix seconds it was received at.
    pub created_at: i64,
}

fn active() -> String {
    "active".into()
}

/// `POST /v1/apps/{app}/channels/{channel}/promote`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Promote {
    /// The version to point the channel at.
    pub version: String,
    /// Promote although the channel's gate refuses the release; the reason is audited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_gate: Option<String>,
}

/// `POST /v1/apps/{app}/push-token`: a registry token for vendor CI to push one release.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PushTokenRequest {
    /// The counter of the release being published: above every existing release's.
    pub release_counter: u64,
    /// The release's repositories to push to, each `<app>/r<release_counter>/<name>`.
    pub repositories: Vec<String>,
}

/// A registry token and where to use it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The JWT.
    pub token: String,
    /// Same as `token`, for docker's token-endpoint clients.
    pub access_token: String,
    /// Seconds the token is valid for.
    pub expires_in: u64,
    /// RFC 3339.
    pub issued_at: String,
}

/// `GET /v1/info`: what an operator or a publisher needs to know about the server.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The server's version.
    pub version: String,
    /// `host:port` of the registry.
    pub registry_host: String,
    /// Whether the registry speaks plain HTTP.
    pub registry_insecure: bool,
    /// The SHA-256 fingerprint of root version 1.
    pub root_fingerprint: String,
    /// The newest root version.
    pub root_version: u64,
    /// The next release counter for each app is assigned by the vendor CLI from this.
    pub server_time: i64,
    /// The largest support bundle it accepts, in bytes (absent from control planes
    /// older than support bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_support_bundle_bytes: Option<u64>,
}

/// An install as listed in the fleet view.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstallInfo {
    /// The install's id.
    pub id: String,
    /// Customer name.
    pub customer: String,
    /// App name.
    pub app: String,
    /// Channel name.
    pub channel: String,
    /// Reported host name.
    pub hostname: String,
    /// The version the channel wants.
    pub desired_version: Option<String>,
    /// The version the host reported.
    pub current_version: Option<String>,
    /// The reported status.
    pub status: String,
    /// Unix seconds of the last check-in.
    pub last_seen: Option<i64>,
    /// Whether the install was revoked.
    pub revoked: bool,
    /// The version it last tried, when not the one it runs.
    #[serde(default)]
    pub target_version: Option<String>,
    /// Why it is not converged, as it reported.
    #[serde(default)]
    pub reason: Option<crate::status::Reason>,
    /// Its update policy as it reported (`auto`, `approve`, `window <windows>`).
    #[serde(default)]
    pub policy: Option<String>,
    /// A release it holds back because of its policy, as it reported.
    #[serde(default)]
    pub waiting: Option<crate::checkin::WaitingRelease>,
    /// Unix seconds the host said it was uninstalled (`driftless uninstall`); its key
    /// is refused since. Such installs are listed only when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uninstalled_at: Option<i64>,
}

/// `POST /v1/apps/{app}/channels/{channel}/rollouts`: start a staged rollout.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StartRollout {
    /// The release to roll out.
    pub version: String,
    /// Cumulative percentages, e.g. `[1, 10, 50, 100]`.
    pub waves: Vec<u32>,
    /// Seconds between waves; absent: waves open only on `advance`.
    pub interval_s: Option<i64>,
    /// Halt only once at least this many installs failed.
    pub min_failures: u32,
    /// Halt once failures exceed this percentage of installs that tried.
    pub max_failure_pct: u32,
    /// Start although the channel's gate refuses the release; the reason is audited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_gate: Option<String>,
}

/// A rollout as listed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RolloutInfo {
    /// Its id.
    pub id: i64,
    /// App.
    pub app: String,
    /// Channel.
    pub channel: String,
    /// The release rolled out.
    pub version: String,
    /// The release the channel pointed at before.
    pub previous_version: Option<String>,
    /// Cumulative percentages.
    pub waves: Vec<u32>,
    /// Index of the newest opened wave.
    pub wave_index: u32,
    /// Seconds between waves.
    pub interval_s: Option<i64>,
    /// running, paused, halted, aborted, completed.
    pub state: String,
    /// Why it halted or was aborted.
    pub reason: Option<String>,
    /// Installs that tried it.
    pub tried: u64,
    /// Installs that failed on it.
    pub failed: u64,
    /// Installs converged on it.
    pub converged: u64,
    /// After an abort: hosts that verified the rolled-out release refuse to go back,
    /// because the release it returns to is below that release's rollback floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_warning: Option<FloorWarning>,
}

/// Hosts of a channel that will refuse to go back to the release the channel now
/// names: it is below the rollback floor signed into a release they verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloorWarning {
    /// The channel moved back.
    pub channel: String,
    /// The release its hosts verified, whose floor refuses the move.
    pub from_version: String,
    /// The release the channel now names.
    pub to_version: String,
    /// The floor, as a release counter.
    pub floor_counter: u64,
    /// The release at the floor, when the app still has it.
    pub floor_version: Option<String>,
    /// One line for the operator.
    pub message: String,
}

/// What `POST /v1/apps/{app}/releases/{version}/state` answers: the release's new
/// state and, after a yank, the channels whose hosts will refuse to go back.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReleaseStateChanged {
    /// The app.
    pub app: String,
    /// The release.
    pub version: String,
    /// active, deprecated or yanked.
    pub state: String,
    /// Channels moved back below the rollback floor of the release they left.
    #[serde(default)]
    pub floor_warnings: Vec<FloorWarning>,
}

/// `POST /v1/apps/{app}/releases/{version}/state`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetReleaseState {
    /// active, deprecated or yanked.
    pub state: String,
}

/// `POST /v1/installs/{id}/move`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MoveInstall {
    /// The channel to follow.
    pub channel: String,
}
