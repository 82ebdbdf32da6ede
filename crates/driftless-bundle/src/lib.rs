//! Air-gap bundles: one file carrying everything a host needs to converge on a release
//! without a route to the vendor: the root chain, the director-signed assignment for a
//! license, the release document, and every blob the release names (image manifests,
//! configs and layers, each stored once, and the compose descriptor).
//!
//! # Layout
//!
//! ```text
//! DRIFTLESS-BUNDLE/1\n
//! u32 big-endian length, header JSON   (roots, assignment, release: signed envelopes)
//! u32 big-endian length, index JSON    (app, version, every blob: digest, size, media type;
//!                                       for a delta bundle, `since`: the release left out)
//! the blobs, in index order, back to back; the file ends with the last one
//! ```
//!
//! No byte is left uncovered: the header's envelopes are signed; the index must be the
//! exact canonical JSON of what the signed release document names ([`expected_index`]),
//! so a changed byte in it is refused; every blob is checked against its digest before
//! anything is applied; a truncated or padded file does not add up to its index.

mod error;
mod format;
mod kept;
mod manifest;
mod reader;
mod receipt;
mod serve;
mod writer;

pub use error::BundleError;
pub use format::{BlobEntry, Header, Index, MAGIC};
pub use kept::KeptBlobs;
pub use manifest::{delta_index, expected_index, referenced, ManifestSource};
pub use reader::{Base, Bundle, VerifiedBundle};
pub use receipt::{sign_receipt, verify_receipt, Receipt, ReceiptError, RECEIPT_PAYLOAD_TYPE};
pub use serve::LoopbackRegistry;
pub use writer::BundleWriter;
