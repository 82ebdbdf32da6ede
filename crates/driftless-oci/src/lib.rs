//! A small OCI distribution client: push and fetch blobs and manifests by digest, with size caps.
//!
//! Everything fetched is checked against the digest it was asked for, and every download
//! stops as soon as it passes its cap, so a hostile or broken registry can neither swap
//! content nor fill the disk. The bearer token is never put in an error or a log.

mod client;
mod compose;
mod error;
mod limits;

pub use client::RegistryClient;
pub use compose::{
    fetch_compose_file, ComposeArtifact, COMPOSE_CONFIG_MEDIA_TYPE, COMPOSE_FILE_ANNOTATION,
    COMPOSE_FILE_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE,
};
pub use error::OciError;
pub use limits::MANIFEST_CAP_BYTES;

/// Re-exported so callers name digests without depending on `driftless-wire` themselves.
pub use driftless_wire::Digest;
