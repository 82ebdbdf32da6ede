//! What a license's terms refuse, and what they warn about: the answers registration,
//! a move and a check-in give when a license has expired, has no seat left, or does not
//! allow a channel. Every refusal is `403` with a code the CLIs turn into exit code 21.

use driftless_store::{LicenseStanding, LicenseTerms};
use driftless_wire::api::LicenseTermsInfo;

use crate::error::ApiError;

/// A date as people read it (UTC).
fn date(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| at.to_string())
}

/// The refusal of a license expired at `expired_at` and past its grace.
pub fn expired(license_id: &str, expired_at: i64) -> ApiError {
    ApiError::forbidden(
        "license_expired",
        format!(
            "license `{license_id}` expired at {} and its grace period is over",
            date(expired_at)
        ),
    )
    .with_hint("ask your vendor to renew the license; the running app was left as it is")
}

/// The warning a check-in during the grace period carries.
pub fn grace_note(expired_at: i64, refused_from: i64) -> String {
    format!(
        "the license expired at {}; check-ins are refused from {} unless it is renewed",
        date(expired_at),
        date(refused_from)
    )
}

/// The refusal of a registration when every seat is taken.
pub fn no_seat(license_id: &str, seats: u32) -> ApiError {
    ApiError::forbidden(
        "license_no_seat",
        format!("license `{license_id}` has no seat left (all {seats} are in use)"),
    )
    .with_hint("uninstall or revoke an install of this license, or ask your vendor for more seats")
}

/// The refusal of `channel`, which license `license_id` does not allow.
pub fn channel_not_allowed(license_id: &str, channel: &str, allowed: &[String]) -> ApiError {
    ApiError::forbidden(
        "channel_not_allowed",
        format!(
            "license `{license_id}` does not allow channel `{channel}` (allowed: {})",
            allowed.join(", ")
        ),
    )
    .with_hint("pick an allowed channel, or change the license's channels with `driftless-vendor license update --allow-channel`")
}

/// Refuses a registration or move under `terms` at `now` that its expiry forbids.
pub fn require_not_expired(
    license_id: &str,
    terms: &LicenseTerms,
    now: i64,
) -> Result<(), ApiError> {
    match terms.standing(now) {
        LicenseStanding::Expired { expired_at } => Err(expired(license_id, expired_at)),
        _ => Ok(()),
    }
}

/// The store's terms from the API's, checked: a negative grace, an empty channel name
/// or a malformed entitlement is refused.
pub fn terms_of(info: &LicenseTermsInfo) -> Result<LicenseTerms, ApiError> {
    if info.grace_s < 0 {
        return Err(ApiError::bad_request(
            "license grace period cannot be negative",
        ));
    }
    driftless_wire::entitlements::check(&info.entitlements)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut channels = info.channels.clone();
    channels.sort();
    channels.dedup();
    Ok(LicenseTerms {
        expires_at: info.expires_at,
        grace_s: info.grace_s,
        seats: info.seats,
        channels,
        entitlements: info.entitlements.clone(),
    })
}

/// The API's form of `terms`.
pub fn info_of(terms: &LicenseTerms) -> LicenseTermsInfo {
    LicenseTermsInfo {
        expires_at: terms.expires_at,
        grace_s: terms.grace_s,
        seats: terms.seats,
        channels: terms.channels.clone(),
        entitlements: terms.entitlements.clone(),
    }
}
