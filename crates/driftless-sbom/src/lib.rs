//! Supply-chain checks of a release: its SBOMs (CycloneDX or SPDX JSON, given by the
//! vendor or generated from an image's package databases), an offline OSV data set to
//! match their components against, and the channel policy that decides whether a
//! release may be promoted. No network; the OSV directory is the only file read.

mod debversion;
mod document;
mod error;
mod generate;
mod osv;
mod policy;
mod purl;
mod version;

pub use document::{parse, Component, Sbom, SbomFormat, MAX_SBOM_BYTES};
pub use error::SbomError;
pub use generate::{apk_installed, cyclonedx_json, cyclonedx_json_for, dpkg_status, Subject};
pub use osv::{Advisory, OsvDataSet, Severity};
pub use policy::{evaluate, ChannelPolicy, Finding, ServiceSbom};
pub use purl::Purl;
