//! A small OCI distribution client: push and fetch blobs and manifests by digest, with size caps.
//!
//! Everything fetched is checked against the digest it was asked for, and every download
//! stops as soon as it passes its cap, so a hostile or broken registry can neither swap
//! content nor fill the disk. The bearer token is never put in an error or a log.
//! Publishing mounts blobs the registry already holds from another repository
//! ([`RegistryClient::mount_blob`]) instead of uploading them again.
//!
//! # Why not `oci-client`
//!
//! The design's default is `oci-client` + `oci-spec`; checked at oci-client 0.18.0 with
//! oci-spec 0.10.0, it fails the first requirement of this crate, so we keep our own:
//!
//! * **Manifest reads are uncapped.** `pull_manifest`, `pull_manifest_raw`,
//!   `pull_image_manifest` and `pull_manifest_and_config` all read the body with
//!   `Response::bytes()`, and `ClientConfig` has no size limit; a hostile registry can
//!   answer a manifest request with gigabytes. Upstream knows (oras-project/rust-oci-client
//!   issue 206, open); until it has a limit we would have to write the manifest GET
//!   ourselves anyway.
//! * **Error bodies are uncapped.** Every non-2xx answer (including in `pull_blob` and
//!   `mount_blob`) is read whole into the error; ours reads at most 16 KiB.
//! * It builds on reqwest 0.13 and sha2 0.11, a second HTTP and hash stack next to the
//!   workspace's reqwest 0.12 and sha2 0.10.
//!
//! What it would have kept: `RegistryAuth::Bearer` is sent as is, without an auth dance
//! (the client keeps the first credential per registry, so it is one client per token,
//! as here); blob pulls are digest-checked and `pull_blob_stream` could sit behind a
//! capped reader; a manifest with compose's media types can be pushed raw; `mount_blob`
//! exists, though it reports a declined mount (202) as a spec violation rather than
//! "upload it instead". Revisit when issue 206 lands.

mod client;
mod compose;
mod error;
mod limits;
mod sbom;

pub use client::RegistryClient;
pub use compose::{
    fetch_compose_file, ComposeArtifact, COMPOSE_CONFIG_MEDIA_TYPE, COMPOSE_FILE_ANNOTATION,
    COMPOSE_FILE_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE,
};
pub use error::OciError;
pub use limits::MANIFEST_CAP_BYTES;
pub use sbom::{SbomArtifact, OCI_EMPTY_CONFIG_MEDIA_TYPE};

/// Re-exported so callers name digests without depending on `driftless-wire` themselves.
pub use driftless_wire::Digest;
