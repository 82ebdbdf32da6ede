//! Driftless's own releases: turns `cargo metadata` into the list of crates the shipped
//! binaries link, for the CycloneDX SBOM scripts/release writes beside them.

mod metadata;

pub use metadata::{linked_components, MetadataError};
