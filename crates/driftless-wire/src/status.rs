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

/// Why a host is not converged: a stable code and one line of detail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// What kind of reason.
    pub code: ReasonCode,
    /// One line for a person (which service, which check, the log's last lines).
    pub detail: String,
    /// The preflight check that failed, for [`ReasonCode::PreflightFailed`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

impl Reason {
    /// The code as a fleet view shows it: `preflight_failed:<check>` for a failed
    /// preflight check, else the code's name.
    pub fn label(&self) -> String {
        match (&self.code, &self.check) {
            (ReasonCode::PreflightFailed, Some(check)) => format!("{}:{check}", self.code.name()),
            _ => self.code.name().to_string(),
        }
    }
}

/// The kinds of reason a host gives for not being converged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// A rollout is in progress and this host's wave has not opened.
    WaitingForWave,
    /// The release did not become healthy; the previous one was brought back.
    HealthFailed,
    /// Not enough disk space for the release's images.
    DiskFull,
    /// The registry could not be reached or refused the pull.
    RegistryUnreachable,
    /// The control plane could not be reached.
    ControlPlaneUnreachable,
    /// The held assignment expired and no fresh one arrived.
    AssignmentExpired,
    /// The running state had drifted and was repaired.
    DriftRepaired,
    /// The release needs a newer CLI.
    CliTooOld,
    /// A signed document or digest did not verify.
    VerificationFailed,
    /// A config value is missing or invalid.
    ConfigInvalid,
    /// The container runtime failed.
    RuntimeFailed,
    /// The control plane offered a document for another app than the host installed;
    /// it was refused and nothing was pulled.
    WrongApp,
    /// The assigned release is below the rollback floor of a release the host already
    /// verified; it was refused and the running release keeps running.
    BelowRollbackFloor,
    /// The host's update policy is `approve`: the new release is downloaded and
    /// verified and waits for `driftless approve`.
    WaitingForApproval,
    /// The host's update policy is `window`: the new release is downloaded and
    /// verified and waits for the next update window.
    WaitingForWindow,
    /// The customer ran `driftless rollback`: the host runs the previous verified release
    /// and holds the assigned one back until the vendor assigns a different release.
    RolledBackByCustomer,
    /// A preflight check of the new release failed on this host; nothing was pulled
    /// and the running release keeps running.
    PreflightFailed,
    /// The vendor's audit log no longer extends the checkpoint this host saw last: it
    /// was truncated or rewritten; the host refused the newer checkpoint.
    AuditLogForked,
    /// Anything else, including a code this build does not know (a newer peer's).
    #[serde(other)]
    Other,
}

impl ReasonCode {
    /// The code as written on the wire.
    pub fn name(self) -> &'static str {
        match self {
            ReasonCode::WaitingForWave => "waiting_for_wave",
            ReasonCode::HealthFailed => "health_failed",
            ReasonCode::DiskFull => "disk_full",
            ReasonCode::RegistryUnreachable => "registry_unreachable",
            ReasonCode::ControlPlaneUnreachable => "control_plane_unreachable",
            ReasonCode::AssignmentExpired => "assignment_expired",
            ReasonCode::DriftRepaired => "drift_repaired",
            ReasonCode::CliTooOld => "cli_too_old",
            ReasonCode::VerificationFailed => "verification_failed",
            ReasonCode::ConfigInvalid => "config_invalid",
            ReasonCode::RuntimeFailed => "runtime_failed",
            ReasonCode::WrongApp => "wrong_app",
            ReasonCode::BelowRollbackFloor => "below_rollback_floor",
            ReasonCode::WaitingForApproval => "waiting_for_approval",
            ReasonCode::WaitingForWindow => "waiting_for_window",
            ReasonCode::RolledBackByCustomer => "rolled_back_by_customer",
            ReasonCode::PreflightFailed => "preflight_failed",
            ReasonCode::AuditLogForked => "audit_log_forked",
            ReasonCode::Other => "other",
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

    #[test]
    fn reason_codes_are_written_as_their_names() {
        for code in [
            ReasonCode::WrongApp,
            ReasonCode::BelowRollbackFloor,
            ReasonCode::WaitingForApproval,
            ReasonCode::WaitingForWindow,
            ReasonCode::RolledBackByCustomer,
            ReasonCode::PreflightFailed,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::String(code.name().into())
            );
        }
    }

    #[test]
    fn a_failed_preflight_is_labelled_with_its_check() {
        let r: Reason =
            serde_json::from_str(r#"{"code":"preflight_failed","detail":"d","check":"ports"}"#)
                .unwrap();
        assert_eq!(r.label(), "preflight_failed:ports");
        let plain: Reason = serde_json::from_str(r#"{"code":"disk_full","detail":"d"}"#).unwrap();
        assert_eq!((plain.label().as_str(), plain.check), ("disk_full", None));
        // A reason without a check is written as before.
        let json = serde_json::to_string(&Reason {
            code: ReasonCode::DiskFull,
            detail: "d".into(),
            check: None,
        })
        .unwrap();
        assert_eq!(json, r#"{"code":"disk_full","detail":"d"}"#);
    }

    #[test]
    fn a_reason_code_this_build_does_not_know_reads_as_other() {
        let r: Reason =
            serde_json::from_str(r#"{"code":"some_future_code","detail":"d"}"#).unwrap();
        assert_eq!(r.code, ReasonCode::Other);
    }
}
