//! What can be wrong with an SBOM, an OSV record or a policy.

/// A document or a policy that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// Not JSON, or neither CycloneDX nor SPDX.
    #[error("{what} is not a CycloneDX or SPDX JSON document: {reason}")]
    NotAnSbom {
        /// Which document.
        what: String,
        /// Why.
        reason: String,
    },
    /// An OSV record that does not parse.
    #[error("OSV record {what} cannot be read: {reason}")]
    BadAdvisory {
        /// Which file.
        what: String,
        /// Why.
        reason: String,
    },
    /// The OSV directory cannot be read.
    #[error("OSV data set {path} cannot be read: {reason}")]
    OsvDir {
        /// The directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// A licence in a policy that is not an SPDX licence identifier.
    #[error("`{licence}` is not an SPDX licence identifier ({reason})")]
    BadLicence {
        /// The text.
        licence: String,
        /// Why.
        reason: String,
    },
    /// A severity name that is not low, medium, high or critical.
    #[error("`{0}` is not a severity (low, medium, high or critical)")]
    BadSeverity(String),
}
