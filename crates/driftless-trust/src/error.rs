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
    /// A document for another app than the one this host installed (mix-and-match
    /// across apps: a compromised control plane offering another app's release).
    #[error("{what} is for app `{found}`, but this host installed app `{pinned}`; refusing it")]
    WrongApp {
        /// The document.
        what: &'static str,
        /// The app the host installed.
        pinned: String,
        /// The app the document names.
        found: String,
    },
    /// A release below the rollback floor of a release already verified, whatever
    /// the assignment permits.
    #[error(
        "refusing release {version} (release counter {target}): it is below the rollback floor (release counter {floor}) set by {}",
        floor_setter(set_by.as_deref())
    )]
    BelowRollbackFloor {
        /// The refused release's version.
        version: String,
        /// Its counter.
        target: u64,
        /// The floor in force.
        floor: u64,
        /// The version of the release that set the floor, when known.
        set_by: Option<String>,
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
    /// The control plane's audit log no longer extends a checkpoint this host saw.
    #[error("{}", forked_message(*tree_size, signed, found.as_deref()))]
    AuditLogForked {
        /// The tree size of the checkpoint this host saw last.
        tree_size: u64,
        /// The head hash that checkpoint signed.
        signed: String,
        /// The hash the log holds at that entry now (`None`: it holds no such entry).
        found: Option<String>,
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

/// Names the release that set a rollback floor, for the refusal's message.
fn floor_setter(version: Option<&str>) -> String {
    match version {
        Some(v) => format!("release {v}, which this host verified"),
        None => "a release this host verified".into(),
    }
}

/// Says how the log no longer reaches the checkpoint a host saw.
fn forked_message(tree_size: u64, signed: &str, found: Option<&str>) -> String {
    match found {
        Some(found) => format!(
            "the vendor's audit log was rewritten: entry {tree_size} now has hash {found}, not the {signed} of the checkpoint this host saw"
        ),
        None => format!(
            "the vendor's audit log was truncated: it no longer holds entry {tree_size}, the head of the checkpoint this host saw"
        ),
    }
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
            TrustError::WrongApp { .. } => Some(
                "nothing was pulled and the running app was not touched; tell your vendor: their control plane offered this host another app's release".into(),
            ),
            TrustError::BelowRollbackFloor { floor, .. } => Some(format!(
                "nothing was pulled and the running release keeps running; the vendor must assign release counter {floor} or newer (the floor is signed by the release key)"
            )),
            TrustError::AuditLogForked { .. } => Some(
                "the running app was not touched; tell your vendor: this host witnessed their audit log before it was changed (the checkpoint it saw is kept in the state directory)".into(),
            ),
            _ => None,
        }
    }
}
