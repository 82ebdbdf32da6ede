//! Domain types the store speaks in.

use serde::{Deserialize, Serialize};

/// An application a vendor ships.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// Lowercase name, also the registry namespace.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A channel of an app and the release it points at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// The app.
    pub app: String,
    /// e.g. `stable`.
    pub name: String,
    /// The version the channel points at.
    pub version: Option<String>,
    /// Unix seconds of the last change.
    pub updated_at: i64,
}

/// A customer of the vendor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Unique name.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A license: the right of one customer to install one app from one channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct License {
    /// Public id.
    pub id: String,
    /// Customer name.
    pub customer: String,
    /// App name.
    pub app: String,
    /// Channel new installs follow.
    pub channel: String,
    /// Hex SHA-256 of the secret key; the key itself is never stored.
    pub key_hash: String,
    /// Whether revoked.
    pub revoked: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// What a license allows: when it ends, how many installs, which channels, and the
/// entitlements its installs are told. The default allows everything, forever.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseTerms {
    /// Unix seconds after which check-ins are warned, then refused after the grace.
    pub expires_at: Option<i64>,
    /// Seconds after `expires_at` during which installs keep running and are told.
    pub grace_s: i64,
    /// Most installs active at once (not revoked, not uninstalled); `None`: no limit.
    pub seats: Option<u32>,
    /// The channels its installs may follow; empty: any channel of the app.
    pub channels: Vec<String>,
    /// Vendor-defined typed values, signed into every assignment.
    pub entitlements: driftless_wire::entitlements::Entitlements,
}

/// Where a license is in its life at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LicenseStanding {
    /// Not expired.
    Valid,
    /// Expired, inside the grace period that ends at the given Unix seconds.
    Grace {
        /// When the license expired.
        expired_at: i64,
        /// When check-ins start being refused.
        refused_from: i64,
    },
    /// Expired and past its grace: refused.
    Expired {
        /// When the license expired.
        expired_at: i64,
    },
}

impl LicenseTerms {
    /// The standing at `now` (Unix seconds).
    pub fn standing(&self, now: i64) -> LicenseStanding {
        standing(self.expires_at, self.grace_s, now)
    }

    /// Whether an install may follow `channel`.
    pub fn allows_channel(&self, channel: &str) -> bool {
        self.channels.is_empty() || self.channels.iter().any(|c| c == channel)
    }
}

impl LicenseTerms {
    /// The allowed channels as stored: a JSON list.
    pub fn channels_json(&self) -> String {
        serde_json::Value::from(self.channels.clone()).to_string()
    }

    /// The entitlements as stored: a JSON object, keys sorted.
    pub fn entitlements_json(&self) -> String {
        // A map of strings to plain values always serialises.
        serde_json::to_string(&self.entitlements).unwrap_or_else(|_| "{}".into())
    }

    /// The terms from their stored columns.
    pub fn from_columns(
        license_id: &str,
        expires_at: Option<i64>,
        grace_s: i64,
        seats: Option<i64>,
        channels: &str,
        entitlements: &str,
    ) -> crate::StoreResult<Self> {
        let corrupt = |what: &str| {
            crate::StoreError::Backend(format!("license `{license_id}` has malformed {what}"))
        };
        Ok(LicenseTerms {
            expires_at,
            grace_s,
            seats: seats
                .map(u32::try_from)
                .transpose()
                .map_err(|_| corrupt("seats"))?,
            channels: serde_json::from_str(channels).map_err(|_| corrupt("channels"))?,
            entitlements: serde_json::from_str(entitlements)
                .map_err(|_| corrupt("entitlements"))?,
        })
    }

    /// What a check-in needs of these terms.
    pub fn for_checkin(self) -> CheckinLicense {
        CheckinLicense {
            expires_at: self.expires_at,
            grace_s: self.grace_s,
            channels: self.channels,
            entitlements: self.entitlements,
        }
    }
}

impl CheckinLicense {
    /// The standing at `now` (Unix seconds).
    pub fn standing(&self, now: i64) -> LicenseStanding {
        standing(self.expires_at, self.grace_s, now)
    }

    /// Whether an install may follow `channel`.
    pub fn allows_channel(&self, channel: &str) -> bool {
        self.channels.is_empty() || self.channels.iter().any(|c| c == channel)
    }
}

/// The standing of a license that expires at `expires_at` with `grace_s` of grace.
pub fn standing(expires_at: Option<i64>, grace_s: i64, now: i64) -> LicenseStanding {
    match expires_at {
        Some(expired_at) if now >= expired_at => {
            let refused_from = expired_at.saturating_add(grace_s.max(0));
            if now < refused_from {
                LicenseStanding::Grace {
                    expired_at,
                    refused_from,
                }
            } else {
                LicenseStanding::Expired { expired_at }
            }
        }
        _ => LicenseStanding::Valid,
    }
}

/// The license terms a check-in needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinLicense {
    /// Unix seconds it expires at.
    pub expires_at: Option<i64>,
    /// Seconds of grace after that.
    pub grace_s: i64,
    /// The channels its installs may follow; empty: any.
    pub channels: Vec<String>,
    /// Its entitlements.
    pub entitlements: driftless_wire::entitlements::Entitlements,
}

/// A signed release as uploaded by vendor CI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// App name.
    pub app: String,
    /// Semver version.
    pub version: String,
    /// Strictly increasing per app.
    pub release_counter: u64,
    /// `sha256:` digest of the signed payload.
    pub digest: String,
    /// The release envelope, as JSON text exactly as uploaded.
    pub envelope: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Active, deprecated or yanked.
    pub state: ReleaseState,
}

/// Where a release is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseState {
    /// Assignable.
    Active,
    /// Still assignable; installs are warned.
    Deprecated,
    /// Never newly assigned; installs on it are moved off it.
    Yanked,
}

impl ReleaseState {
    /// The state's name as stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            ReleaseState::Active => "active",
            ReleaseState::Deprecated => "deprecated",
            ReleaseState::Yanked => "yanked",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ReleaseState::Active),
            "deprecated" => Some(ReleaseState::Deprecated),
            "yanked" => Some(ReleaseState::Yanked),
            _ => None,
        }
    }
}

/// A release as the check-in needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRef {
    /// Semver version.
    pub version: String,
    /// The release counter.
    pub release_counter: u64,
    /// `sha256:` digest of the signed payload.
    pub digest: String,
    /// Active, deprecated or yanked.
    pub state: ReleaseState,
}

/// Where a staged rollout is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutState {
    /// Waves open on schedule (or on `advance`).
    Running,
    /// No new wave opens; opened waves stay open.
    Paused,
    /// Stopped by itself: too many installs that tried it failed.
    Halted,
    /// Stopped by an operator: the channel points at the previous release again.
    Aborted,
    /// Every wave opened; the channel points at the release.
    Completed,
}

impl RolloutState {
    /// The state's name as stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            RolloutState::Running => "running",
            RolloutState::Paused => "paused",
            RolloutState::Halted => "halted",
            RolloutState::Aborted => "aborted",
            RolloutState::Completed => "completed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(RolloutState::Running),
            "paused" => Some(RolloutState::Paused),
            "halted" => Some(RolloutState::Halted),
            "aborted" => Some(RolloutState::Aborted),
            "completed" => Some(RolloutState::Completed),
            _ => None,
        }
    }

    /// Whether the rollout still holds its channel: no other rollout may start there.
    /// A halted rollout is active but hands its release only to installs already on it.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            RolloutState::Running | RolloutState::Paused | RolloutState::Halted
        )
    }
}

/// A staged rollout of one release to one channel, in cumulative waves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// Assigned by the store on creation (ignored when creating).
    pub id: i64,
    /// App name.
    pub app: String,
    /// Channel name.
    pub channel: String,
    /// The release being rolled out.
    pub version: String,
    /// The release the channel pointed at before.
    pub previous_version: Option<String>,
    /// Cumulative percentages of the fleet, e.g. `[1, 10, 50, 100]`.
    pub waves: Vec<u32>,
    /// Index into `waves` of the newest opened wave.
    pub wave_index: u32,
    /// Unix seconds the newest wave opened.
    pub wave_started_at: i64,
    /// Seconds between waves; `None` opens waves only on `advance`.
    pub interval_s: Option<i64>,
    /// Where it is.
    pub state: RolloutState,
    /// Halt only once at least this many installs failed.
    pub min_failures: u32,
    /// Halt once failures exceed this percentage of installs that tried it.
    pub max_failure_pct: u32,
    /// Why it halted or was aborted.
    pub reason: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last change.
    pub updated_at: i64,
    /// Bumped by the store on every update; an update names the revision it read, so
    /// of two changes made from the same read only the first is saved.
    pub revision: u64,
}

/// A change to a rollout that the store saves in one transaction, only if the rollout
/// is still at the revision it was read at (see [`crate::Store::update_rollout`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutUpdate {
    /// The rollout as it should be stored; its `revision` is the one it was read at.
    pub rollout: Rollout,
    /// Point the rollout's channel at this release in the same transaction (on
    /// completion, or back on abort).
    pub channel_release: Option<String>,
    /// The change's audit entry, appended in the same transaction.
    pub audit: Option<AuditEvent>,
}

/// How the installs that tried a release fared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutOutcomes {
    /// Installs that reported trying it or running it.
    pub tried: u64,
    /// Installs that reported failing on it.
    pub failed: u64,
    /// Installs that reported running it, converged.
    pub converged: u64,
}

/// A registered customer host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Install {
    /// Random id.
    pub id: String,
    /// The license it registered with.
    pub license_id: String,
    /// Customer name.
    pub customer: String,
    /// App name.
    pub app: String,
    /// Channel it follows.
    pub channel: String,
    /// Hex of its Ed25519 public key.
    pub public_key: String,
    /// Reported host name.
    pub hostname: String,
    /// e.g. `linux/amd64`.
    pub platform: String,
    /// Whether revoked (directly or through its license).
    pub revoked: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds the host said it was uninstalled; such an install is also revoked.
    #[serde(default)]
    pub uninstalled_at: Option<i64>,
}

/// The last assignment issued to an install.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAssignment {
    /// Its sequence number.
    pub sequence: u64,
    /// The release digest it names.
    pub release_digest: String,
    /// Unix seconds it expires at.
    pub expires: i64,
    /// The ETag the install sends back (digest of the envelope).
    pub etag: String,
    /// The signed envelope as JSON text.
    pub envelope: String,
}

/// Everything a check-in reads, in one query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinView {
    /// The install.
    pub install: Install,
    /// Whether its license was revoked.
    pub license_revoked: bool,
    /// Its license's expiry, channels and entitlements.
    #[serde(default)]
    pub license: CheckinLicense,
    /// The release its channel points at.
    pub channel_release: Option<ReleaseRef>,
    /// The active rollout on its channel, with the release it rolls out.
    pub rollout: Option<(Rollout, ReleaseRef)>,
    /// The assignment it was last given.
    pub assignment: Option<StoredAssignment>,
    /// Its last report, as recorded; `None` if it never checked in.
    #[serde(default)]
    pub last_report: Option<CheckinReport>,
    /// The newest request time (Unix milliseconds) the database accepted from it; 0
    /// if none. A heartbeat's is written by the next batch, not before its answer.
    #[serde(default)]
    pub newest_request_ms: i64,
    /// Its check-in session, read with the rest so a reloaded entry needs no second
    /// query. Never serialized: it holds the session key.
    #[serde(skip)]
    pub session: Option<StoredSession>,
}

impl CheckinView {
    /// The version it last reported running.
    pub fn running_version(&self) -> Option<&str> {
        self.last_report.as_ref()?.version.as_deref()
    }
}

/// What an install said at a check-in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinReport {
    /// Unix seconds.
    pub at: i64,
    /// Reported status string.
    pub status: String,
    /// Reported version.
    pub version: Option<String>,
    /// Reported release counter.
    pub release_counter: Option<u64>,
    /// Reported CLI version.
    pub cli_version: String,
    /// Reported free disk bytes.
    pub free_disk_bytes: Option<u64>,
    /// The version the install was trying to apply, if not the one it runs.
    pub target_version: Option<String>,
    /// Why it is not converged, as JSON text.
    pub reason: Option<String>,
    /// Its update policy (`auto`, `approve`, `window <windows>`), if it reported one.
    #[serde(default)]
    pub policy: Option<String>,
    /// The release it holds back because of its policy, as JSON text.
    #[serde(default)]
    pub waiting: Option<String>,
}

/// One row of the fleet view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSummary {
    /// The install.
    pub install: Install,
    /// The version its channel points at.
    pub desired_version: Option<String>,
    /// Its last report, if it ever checked in.
    pub last_report: Option<CheckinReport>,
}

/// Something an operator or the system did, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unix seconds.
    pub at: i64,
    /// Who: `operator`, `install:<id>`, `system`.
    pub actor: String,
    /// What, e.g. `release.publish`.
    pub action: String,
    /// On what, e.g. `acme@1.0.0`.
    pub subject: String,
    /// Details as JSON text.
    pub detail: String,
    /// The id of the API request that made the change (its `X-Request-Id`); empty for
    /// work of the control plane's own (rollout ticks) and entries written before it.
    #[serde(default)]
    pub request_id: String,
}

/// A stored audit entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// The event.
    pub event: AuditEvent,
    /// Hex SHA-256 of the previous entry's hash and this event.
    pub hash: String,
}

/// A signed checkpoint of the audit log as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    /// How many entries it covers.
    pub tree_size: u64,
    /// The signed envelope's JSON text, exactly as signed.
    pub envelope: String,
}

/// The trust state every replica of the control plane serves with: every root version
/// and the online keys the newest one trusts. Held in the database so replicas need no
/// key files; the private keys in it make the database as sensitive as a keys directory.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustState {
    /// The newest root's version (the number of entries in `roots`).
    pub root_version: u64,
    /// Every root version, oldest first, each the signed envelope's JSON text.
    pub roots: Vec<String>,
    /// The director's Ed25519 private key, PKCS#8 PEM.
    pub director_pem: String,
    /// The registry-token P-256 private key, PEM.
    pub token_key_pem: String,
    /// The registry-token certificate, PEM.
    pub token_cert_pem: String,
    /// The audit checkpoint key (Ed25519, PKCS#8 PEM); `None` for a data directory made
    /// before checkpoints existed (no checkpoints are signed then).
    #[serde(default)]
    pub checkpoint_pem: Option<String>,
}

impl std::fmt::Debug for TrustState {
    /// Never prints the private keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustState")
            .field("root_version", &self.root_version)
            .field("roots", &self.roots.len())
            .finish_non_exhaustive()
    }
}

/// A check-in session: a key an install shares with the control plane for a while, so
/// its check-ins are authenticated by an HMAC instead of an Ed25519 signature.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The install it belongs to; an install has at most one session.
    pub install_id: String,
    /// Names the session in the `x-driftless-session` header.
    pub session_id: String,
    /// The shared HMAC key (never logged: `Debug` leaves it out).
    pub key: [u8; 32],
    /// Unix seconds after which it is refused.
    pub expires_at: i64,
}

impl StoredSession {
    /// Install `install_id`'s session from its three columns: `None` unless all are set
    /// (an install that never opened one); an error for a key that is not 32 bytes.
    pub fn from_columns(
        install_id: &str,
        session_id: Option<String>,
        key: Option<Vec<u8>>,
        expires_at: Option<i64>,
    ) -> crate::StoreResult<Option<StoredSession>> {
        let (Some(session_id), Some(key), Some(expires_at)) = (session_id, key, expires_at) else {
            return Ok(None);
        };
        let key: [u8; 32] = key.try_into().map_err(|_| {
            crate::StoreError::Backend(format!(
                "session of install `{install_id}` has a malformed key"
            ))
        })?;
        Ok(Some(StoredSession {
            install_id: install_id.to_string(),
            session_id,
            key,
            expires_at,
        }))
    }
}

impl std::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSession")
            .field("install_id", &self.install_id)
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One change of an install's reported status, recorded by the store when a check-in's
/// report changes it (never for its first report, nor one that repeats the status).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusTransition {
    /// Unix seconds of the report that changed it.
    pub at: i64,
    /// The status before.
    pub from_status: Option<String>,
    /// The status reported.
    pub to_status: String,
    /// The version reported with it.
    pub version: Option<String>,
    /// The reason reported with it, as JSON text.
    pub reason: Option<String>,
}

// --- Bulk import (the load generator's seeding) ---

/// An install as its registration and first check-in leave it, imported in bulk by
/// [`crate::Store::import_installs`] (the load generator seeds a million this way).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedInstall {
    /// The install as registration stores it.
    pub install: Install,
    /// Its registration's audit entry (`install.register`).
    pub registered: AuditEvent,
    /// Its last check-in report, if it checked in.
    pub report: Option<CheckinReport>,
    /// The assignment it was last given, if any.
    pub assignment: Option<StoredAssignment>,
    /// Unix milliseconds of the newest signed request accepted from it, if any.
    pub newest_request_ms: Option<i64>,
}

/// What a change in the change feed touched, so replicas drop what they cached of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// One install (revoked, uninstalled, moved, a new session); the key is its id.
    Install,
    /// One channel (its release, its rollout); the key is `app/channel`.
    Channel,
    /// Every channel of an app (a release's state changed); the key is the app.
    App,
}

impl ChangeKind {
    /// The kind's name as stored.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Install => "install",
            ChangeKind::Channel => "channel",
            ChangeKind::App => "app",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "install" => Some(ChangeKind::Install),
            "channel" => Some(ChangeKind::Channel),
            "app" => Some(ChangeKind::App),
            _ => None,
        }
    }
}

/// One entry of the change feed: written by the database itself in the same
/// transaction as the change, so no committed change is missing from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Position in the feed; increases in commit order.
    pub seq: i64,
    /// What it touched.
    pub kind: ChangeKind,
    /// Which one (see [`ChangeKind`]).
    pub key: String,
}

/// A pure "still here" check-in answered from memory, written later in a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The install.
    pub install_id: String,
    /// Unix seconds it checked in at (its last report's time).
    pub at: i64,
    /// The time its request was made at (Unix milliseconds), accepted as its newest.
    pub signed_at_ms: i64,
}

/// A support bundle an install uploaded, without its bytes: stored and answered as
/// the API names it.
pub use driftless_wire::api::SupportBundleInfo;

/// What linking an air-gapped install's status receipt onto its chain found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptLink {
    /// It follows the last receipt imported (or is the install's first): now the last.
    Linked,
    /// It does not follow the last receipt imported, which is this one.
    Refused {
        /// The last imported receipt's sequence number.
        sequence: i64,
        /// The last imported receipt's payload digest.
        digest: String,
    },
}
