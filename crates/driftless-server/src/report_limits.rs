//! Refuses a check-in whose report carries a text longer than the store keeps (see
//! `driftless_store::report_limits`): `422 report_too_long`, naming the field, before
//! anything is written.

use axum::http::StatusCode;
use driftless_store::report_limits::{
    MAX_CLI_VERSION_BYTES, MAX_REASON_CHECK_BYTES, MAX_REASON_DETAIL_BYTES, MAX_STATUS_BYTES,
    MAX_VERSION_BYTES, MAX_WAITS_FOR_BYTES,
};
use driftless_wire::checkin::CheckinRequest;

use crate::error::ApiError;

/// Checks every reported text against its limit.
pub(crate) fn check(req: &CheckinRequest) -> Result<(), ApiError> {
    let waiting = req.waiting.as_ref();
    let status = req.status.to_string();
    let fields = [
        ("status", Some(status.as_str()), MAX_STATUS_BYTES),
        ("version", req.version.as_deref(), MAX_VERSION_BYTES),
        (
            "target_version",
            req.target_version.as_deref(),
            MAX_VERSION_BYTES,
        ),
        (
            "cli_version",
            Some(req.cli_version.as_str()),
            MAX_CLI_VERSION_BYTES,
        ),
        (
            "reason.detail",
            req.reason.as_ref().map(|r| r.detail.as_str()),
            MAX_REASON_DETAIL_BYTES,
        ),
        (
            "reason.check",
            req.reason.as_ref().and_then(|r| r.check.as_deref()),
            MAX_REASON_CHECK_BYTES,
        ),
        (
            "waiting.version",
            waiting.map(|w| w.version.as_str()),
            MAX_VERSION_BYTES,
        ),
        (
            "waiting.waits_for",
            waiting.map(|w| w.waits_for.as_str()),
            MAX_WAITS_FOR_BYTES,
        ),
    ];
    for (field, value, limit) in fields {
        if let Some(value) = value.filter(|v| v.len() > limit) {
            return Err(too_long(field, value.len(), limit));
        }
    }
    Ok(())
}

fn too_long(field: &str, len: usize, limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "report_too_long",
        format!(
            "check-in field `{field}` is {len} bytes long; the control plane keeps at most {limit}"
        ),
    )
    .with_hint(format!("shorten `{field}` to {limit} bytes or fewer"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use driftless_wire::status::{InstallStatus, Reason, ReasonCode};

    fn request() -> CheckinRequest {
        CheckinRequest {
            release_counter: Some(1),
            version: Some("1.0.0".into()),
            status: InstallStatus::Failed("health_failed: web exited".into()),
            cli_version: "0.1.0".into(),
            platform: "linux/amd64".into(),
            free_disk_bytes: None,
            target_version: None,
            reason: Some(Reason {
                code: ReasonCode::HealthFailed,
                detail: "x".repeat(MAX_REASON_DETAIL_BYTES),
                check: None,
            }),
            policy: None,
            waiting: None,
        }
    }

    #[test]
    fn texts_at_their_limits_pass() {
        let mut req = request();
        req.version = Some("1".repeat(MAX_VERSION_BYTES));
        check(&req).unwrap();
    }

    #[test]
    fn a_text_over_its_limit_is_422_naming_the_field() {
        let mut req = request();
        req.version = Some("1".repeat(MAX_VERSION_BYTES + 1));
        let err = check(&req).unwrap_err();
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            err.message.contains("`version` is 129 bytes"),
            "{}",
            err.message
        );

        let mut req = request();
        if let Some(reason) = req.reason.as_mut() {
            reason.detail.push('x');
        }
        let err = check(&req).unwrap_err();
        assert!(err.message.contains("`reason.detail`"), "{}", err.message);

        let mut req = request();
        req.status = InstallStatus::Failed("e".repeat(MAX_STATUS_BYTES));
        let err = check(&req).unwrap_err();
        assert!(err.message.contains("`status`"), "{}", err.message);

        let mut req = request();
        if let Some(reason) = req.reason.as_mut() {
            reason.check = Some("c".repeat(MAX_REASON_CHECK_BYTES + 1));
        }
        let err = check(&req).unwrap_err();
        assert!(err.message.contains("`reason.check`"), "{}", err.message);
    }
}
