//! The bundle's header and index, and their exact bytes on disk.

use driftless_wire::{Digest, Envelope};
use serde::{Deserialize, Serialize};

/// The first bytes of every bundle.
pub const MAGIC: &[u8] = b"DRIFTLESS-BUNDLE/1\n";

/// The largest header or index a reader accepts.
pub const MAX_SECTION_BYTES: u32 = 8 << 20;

/// The signed documents: everything here is checked by its signatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Root versions 1.. (version 1 is checked at install against the fingerprint the
    /// vendor published; a host walks on from the root it holds).
    pub roots: Vec<Envelope>,
    /// The director-signed assignment for the license's installs.
    pub assignment: Envelope,
    /// The release-signed release document.
    pub release: Envelope,
}

/// One blob of the bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobEntry {
    /// `sha256:` of its bytes.
    pub digest: Digest,
    /// Its length in bytes.
    pub size: u64,
    /// The media type a registry serves it with.
    pub media_type: String,
}

/// What the bundle holds: derived from the signed release document alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// The app.
    pub app: String,
    /// The release's version.
    pub version: String,
    /// Every blob, sorted by digest, each once.
    pub blobs: Vec<BlobEntry>,
    /// For a delta bundle: the release whose blobs it leaves out (the host must keep
    /// them). Absent from a full bundle's index, so its bytes are as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

impl Index {
    /// Bytes the blobs take.
    pub fn blob_bytes(&self) -> u64 {
        self.blobs.iter().map(|b| b.size).sum()
    }
}

/// The canonical bytes of a section: compact JSON, the only form a reader accepts.
pub(crate) fn section<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs (strings, integers, vectors) cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}
