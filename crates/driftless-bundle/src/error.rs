//! What can be wrong with a bundle.

use std::path::PathBuf;

/// A bundle that cannot be read, or that is refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file could not be read or written.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a bundle, or its structure is broken.
    #[error("{} is not a valid bundle: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file is shorter or longer than its index says.
    #[error("{} is {found} bytes but its index adds up to {expected}: the file is truncated or was changed", path.display())]
    Length {
        /// The file.
        path: PathBuf,
        /// Bytes the index accounts for.
        expected: u64,
        /// Bytes found.
        found: u64,
    },
    /// A blob does not match its digest.
    #[error("blob {digest} in {} does not match its digest: the bundle was changed or damaged", path.display())]
    BlobDigest {
        /// The file.
        path: PathBuf,
        /// The digest the index names.
        digest: String,
    },
    /// The index is not exactly what the signed release document names.
    #[error("the index of {} does not match what the signed release names: {reason}", path.display())]
    Index {
        /// The file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// A manifest could not be read.
    #[error("manifest {digest} is not a valid image manifest: {reason}")]
    Manifest {
        /// Its digest.
        digest: String,
        /// What is wrong.
        reason: String,
    },
    /// A delta bundle whose base release this host does not have.
    #[error("{} is a delta bundle on top of release {since}: {reason}", path.display())]
    Base {
        /// The file.
        path: PathBuf,
        /// The release it goes on top of.
        since: String,
        /// What is missing.
        reason: String,
    },
}
