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
    /// The release its channel points at: (version, counter, digest).
    pub channel_release: Option<(String, u64, String)>,
    /// The assignment it was last given.
    pub assignment: Option<StoredAssignment>,
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
