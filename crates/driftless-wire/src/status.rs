//! What an install reports about itself.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The state of an install, written on the wire as `converged`, `applying`,
/// `failed:<reason>`, `drifted:<what>`, or `new`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum InstallStatus {
    /// Registered, never applied a release.
    New,
    /// Running exactly the assigned release.
    Converged,
    /// In the middle of applying.
    Applying,
    /// The last apply failed, with why.
    Failed(String),
    /// The running state differs from the release, with what.
    Drifted(String),
}

/// A status string that is none of the known forms.
#[derive(Debug, thiserror::Error)]
#[error("unknown install status `{0}` (expected new, converged, applying, failed:<reason> or drifted:<what>)")]
pub struct StatusParseError(String);

impl FromStr for InstallStatus {
    type Err = StatusParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "new" => Ok(InstallStatus::New),
            "converged" => Ok(InstallStatus::Converged),
            "applying" => Ok(InstallStatus::Applying),
            _ => {
                if let Some(r) = s.strip_prefix("failed:") {
                    Ok(InstallStatus::Failed(r.to_string()))
                } else if let Some(r) = s.strip_prefix("drifted:") {
                    Ok(InstallStatus::Drifted(r.to_string()))
                } else {
                    Err(StatusParseError(s.to_string()))
                }
            }
        }
    }
}

impl TryFrom<String> for InstallStatus {
    type Error = StatusParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<InstallStatus> for String {
    fn from(s: InstallStatus) -> String {
        s.to_string()
    }
}

impl fmt::Display for InstallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallStatus::New => f.write_str("new"),
            InstallStatus::Converged => f.write_str("converged"),
            InstallStatus::Applying => f.write_str("applying"),
            InstallStatus::Failed(r) => write!(f, "failed:{r}"),
            InstallStatus::Drifted(r) => write!(f, "drifted:{r}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_form() {
        for s in [
            "new",
            "converged",
            "applying",
            "failed:pull: timeout",
            "drifted:web",
        ] {
            assert_eq!(
                s.parse::<InstallStatus>().map(|x| x.to_string()).ok(),
                Some(s.to_string())
            );
        }
        assert!("broken".parse::<InstallStatus>().is_err());
    }
}
