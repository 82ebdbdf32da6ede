//! Turns a failed sync into the structured reason the host reports.

use driftless_client::ClientError;
use driftless_runtime::RuntimeError;
use driftless_trust::TrustError;
use driftless_wire::status::{Reason, ReasonCode};

use crate::preflight::PreflightFailed;

/// Not enough disk space for a release's images.
#[derive(Debug)]
pub struct DiskFull(pub String);

impl std::fmt::Display for DiskFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DiskFull {}

/// The release needs a newer CLI.
#[derive(Debug)]
pub struct CliTooOld(pub String);

impl std::fmt::Display for CliTooOld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliTooOld {}

/// The reason code of a failure, from the first cause in its chain that has one.
pub fn code_of(err: &anyhow::Error) -> ReasonCode {
    if err.downcast_ref::<DiskFull>().is_some() {
        return ReasonCode::DiskFull;
    }
    if err.downcast_ref::<PreflightFailed>().is_some() {
        return ReasonCode::PreflightFailed;
    }
    if let Some(held) = err.downcast_ref::<crate::sync::HeldBack>() {
        return held.0.reason.code;
    }
    // A failed self-update carries CliTooOld as context, which `chain()` cannot downcast.
    if err.downcast_ref::<CliTooOld>().is_some() {
        return ReasonCode::CliTooOld;
    }
    for cause in err.chain() {
        if let Some(driftless_exit::Coded(driftless_exit::code::AUDIT_VERIFICATION, _)) =
            cause.downcast_ref()
        {
            return ReasonCode::AuditLogForked;
        }
        if cause.is::<DiskFull>() {
            return ReasonCode::DiskFull;
        }
        if cause.is::<CliTooOld>() {
            return ReasonCode::CliTooOld;
        }
        if let Some(e) = cause.downcast_ref::<TrustError>() {
            return match e {
                TrustError::Expired {
                    what: "assignment", ..
                } => ReasonCode::AssignmentExpired,
                TrustError::WrongApp { .. } => ReasonCode::WrongApp,
                TrustError::BelowRollbackFloor { .. } => ReasonCode::BelowRollbackFloor,
                _ => ReasonCode::VerificationFailed,
            };
        }
        if let Some(e) = cause.downcast_ref::<RuntimeError>() {
            return match e {
                RuntimeError::Unhealthy { .. } => ReasonCode::HealthFailed,
                RuntimeError::Pull { .. } => ReasonCode::RegistryUnreachable,
                _ => ReasonCode::RuntimeFailed,
            };
        }
        if let Some(e) = cause.downcast_ref::<driftless_oci::OciError>() {
            return match e {
                driftless_oci::OciError::DigestMismatch { .. } => ReasonCode::VerificationFailed,
                _ => ReasonCode::RegistryUnreachable,
            };
        }
        if let Some(ClientError::Unreachable { .. }) = cause.downcast_ref::<ClientError>() {
            return ReasonCode::ControlPlaneUnreachable;
        }
        if let Some(e) = cause.downcast_ref::<driftless_descriptor::DescriptorError>() {
            use driftless_descriptor::DescriptorError as D;
            return match e {
                D::MissingRequired(_)
                | D::InvalidValue { .. }
                | D::Unrepresentable { .. }
                | D::UnknownKey { .. } => ReasonCode::ConfigInvalid,
                _ => ReasonCode::VerificationFailed,
            };
        }
        // A failed migration holds the release back like a failed health check.
        if cause.is::<crate::migrate::JobFailed>() {
            return ReasonCode::HealthFailed;
        }
        if cause.is::<crate::probe::ProbeFailed>() {
            return ReasonCode::HealthFailed;
        }
    }
    ReasonCode::Other
}

/// The reason to report for a failure.
pub fn of(err: &anyhow::Error) -> Reason {
    let detail: String = driftless_exit::one_line(err).chars().take(1000).collect();
    Reason {
        code: code_of(err),
        detail,
        check: err
            .downcast_ref::<PreflightFailed>()
            .map(|failed| failed.check.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_preflight_check_is_reported_with_its_name() {
        let err = anyhow::Error::new(PreflightFailed {
            check: "memory_mb".into(),
            detail: "expected at least 9 MiB, found 4 MiB".into(),
        })
        .context(driftless_exit::Coded(
            driftless_exit::code::PREFLIGHT_FAILED,
            "release 1.0.0 was not pulled".into(),
        ));
        let reason = of(&err);
        assert_eq!(reason.code, ReasonCode::PreflightFailed);
        assert_eq!(reason.check.as_deref(), Some("memory_mb"));
        assert!(reason.detail.contains("found 4 MiB"), "{}", reason.detail);
        assert_eq!(
            driftless_exit::exit_code(&err),
            driftless_exit::code::PREFLIGHT_FAILED
        );
    }
}
