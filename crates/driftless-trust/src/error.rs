//! Why a document was refused.

/// A document the CLI refuses to act on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustError {
    /// The root document does not hash to the pinned fingerprint.
    #[error("root document fingerprint {found} does not match the pinned {pinned}")]
    FingerprintMismatch {
        /// The pinned value.
        pinned: String,
        /// The computed value.
        found: String,
    },
    /// Too few valid signatures from the role's keys.
    #[error("{what} has {got} valid {role} signature(s), {need} required; the document is forged or corrupted")]
    Threshold {
        /// The document.
        what: &'static str,
        /// The role that must sign.
        role: &'static str,
        /// Valid distinct signatures found.
        got: usize,
        /// The threshold.
        need: u32,
    },
    /// The document has expired (a freeze attack or a stale server).
    #[error("{what} expired at {expires} (now {now})")]
    Expired {
        /// The document.
        what: &'static str,
        /// Its expiry, Unix seconds.
        expires: i64,
        /// Now, Unix seconds.
        now: i64,
    },
    /// A counter went backwards (a replay of an old document).
    #[error("{what} {field} {got} is lower than {highest} already accepted; refusing a rollback")]
    Rollback {
        /// The document.
        what: &'static str,
        /// The counter.
        field: &'static str,
        /// The offered value.
        got: u64,
        /// The highest accepted.
        highest: u64,
    },
    /// Two documents that must agree do not (mix-and-match).
    #[error("{what}: expected {expected}, found {found}")]
    Mismatch {
        /// What disagrees.
        what: &'static str,
        /// What the signed document said.
        expected: String,
        /// What was found.
        found: String,
    },
    /// A downgrade without permission, or below the rollback floor.
    #[error("refusing a downgrade to release counter {target}: {why}")]
    Downgrade {
        /// The target counter.
        target: u64,
        /// Why.
        why: String,
    },
    /// A root version was skipped.
    #[error(
        "root version {got} does not follow {current}; roots must be applied one version at a time"
    )]
    RootSkipped {
        /// The held version.
        current: u64,
        /// The offered version.
        got: u64,
    },
    /// The document is malformed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The document.
        what: &'static str,
        /// The parse error.
        reason: String,
    },
}

impl TrustError {
    /// What a person can do about it, printed under the error line.
    pub fn hint(&self) -> Option<String> {
        match self {
            TrustError::FingerprintMismatch { .. } => {
                Some("check --root-fingerprint against the one your vendor published".into())
            }
            TrustError::Expired { .. } => Some(
                "the running release keeps running; sync again once the control plane issues a fresh document, and check the host's clock".into(),
            ),
            TrustError::RootSkipped { .. } => {
                Some("sync again: the CLI walks the root chain one version at a time".into())
            }
            _ => None,
        }
    }
}
