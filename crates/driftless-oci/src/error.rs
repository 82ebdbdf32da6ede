//! What can go wrong talking to a registry, each phrased for the person who must fix it:
//! the message says what failed, [`OciError::hint`] what to do about it.

use driftless_wire::Digest;

/// A registry operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The registry could not be reached at all.
    #[error("cannot reach the registry at {host} ({reason})")]
    Unreachable {
        /// `host:port` tried.
        host: String,
        /// The network error.
        reason: String,
    },
    /// The registry refused the token for this request.
    #[error("the registry refused access to {url} (HTTP {status})")]
    Unauthorized {
        /// The URL refused, without credentials.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// The repository, manifest or blob does not exist.
    #[error("{what} was not found in the registry")]
    NotFound {
        /// What was looked up.
        what: String,
    },
    /// Content did not hash to the digest it was fetched or pushed by.
    #[error("{what} does not match its digest (expected {expected}, got {actual}); the registry's copy is damaged or was swapped")]
    DigestMismatch {
        /// What was checked.
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// Content is bigger than the caller allows.
    #[error("{what} is larger than the {cap}-byte limit; refusing to read it")]
    TooLarge {
        /// What was being read.
        what: String,
        /// The limit in bytes.
        cap: u64,
    },
    /// The registry answered in a way this client does not expect, or the input was unusable.
    #[error("{what}: {reason}")]
    Protocol {
        /// The operation, naming repository and digest.
        what: String,
        /// What was wrong.
        reason: String,
        /// What to do about it, when there is something to do.
        hint: Option<&'static str>,
    },
}

impl OciError {
    /// What a person can do about it, printed under the error line.
    pub fn hint(&self) -> Option<String> {
        let text = match self {
            OciError::Unreachable { .. } => {
                "check that it is running and that the address is right"
            }
            OciError::Unauthorized { .. } => {
                "the token is expired or does not grant this repository and action: get a fresh one"
            }
            OciError::NotFound { .. } => {
                "check the repository name (lowercase, distribution's naming rules) and the digest"
            }
            OciError::DigestMismatch { .. } => "do not use it, push it again",
            OciError::TooLarge { .. } => "raise the limit only if the content is trusted",
            OciError::Protocol { hint, .. } => return hint.map(str::to_owned),
        };
        Some(text.into())
    }
}
