//! `POST /v1/licenses/{id}/bundle-assignment` (vendor API): the director signs an
//! assignment of one release for every air-gapped install of a license, with the long
//! expiry the vendor chose. `driftless-vendor bundle create` puts it in the bundle.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use driftless_wire::airgap::{
    license_install_id, BundleAssignmentRequest, BundleAssignmentResponse,
};
use driftless_wire::release::Assignment;
use driftless_wire::{Digest, Envelope, ASSIGNMENT_PAYLOAD_TYPE};

use super::audit;
use super::input::parse_json;
use crate::error::ApiError;
use crate::now;
use crate::state::AppState;

/// The longest a bundle's assignment may live: two years.
const MAX_LIFETIME_S: i64 = 2 * 366 * 24 * 3600;

/// `POST /v1/licenses/{id}/bundle-assignment`.
pub async fn issue(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<BundleAssignmentResponse>, ApiError> {
    let req: BundleAssignmentRequest = parse_json(&body, "bundle assignment")?;
    let now = now();
    if req.expires <= now || req.expires - now > MAX_LIFETIME_S {
        return Err(ApiError::bad_request(format!(
            "the bundle's expiry must be in the future and at most {} days away",
            MAX_LIFETIME_S / 86_400
        )));
    }
    // One read: the license, and the terms whose entitlements the bundle carries and
    // whose end (grace included) it may not outlive.
    let (license, terms) = state
        .store
        .get_license(&id)
        .await?
        .filter(|(l, _)| !l.revoked)
        .ok_or_else(|| {
            ApiError::not_found("unknown_license", format!("no active license `{id}`"))
        })?;
    if let Some(end) = terms.expires_at.map(|e| e.saturating_add(terms.grace_s)) {
        if req.expires > end {
            return Err(ApiError::bad_request(format!(
                "the bundle's expiry is past the license's end ({end}, grace included)"
            ))
            .with_hint("choose an earlier --expires, or extend the license first"));
        }
    }
    let release = state
        .store
        .get_release(&license.app, &req.version)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_release",
                format!("app `{}` has no release {}", license.app, req.version),
            )
        })?;
    let a = Assignment {
        doc_type: "assignment".into(),
        install_id: license_install_id(&license.key_hash),
        app: license.app.clone(),
        channel: license.channel.clone(),
        version: release.version.parse().map_err(ApiError::internal)?,
        release_digest: release
            .digest
            .parse::<Digest>()
            .map_err(ApiError::internal)?,
        release_counter: release.release_counter,
        // Strictly increasing across the bundles of one license without a counter of
        // its own: a replayed older bundle is refused by the host's sequence rule.
        sequence: u64::try_from(now).map_err(ApiError::internal)?,
        issued_at: now,
        expires: req.expires,
        allow_downgrade: false,
        entitlements: terms.entitlements,
    };
    let payload = serde_json::to_vec(&a).map_err(ApiError::internal)?;
    let assignment = Envelope::sign(ASSIGNMENT_PAYLOAD_TYPE, &payload, &[&state.keys().director]);
    audit::record(
        &state,
        "license.bundle_assignment",
        &license.id,
        serde_json::json!({ "version": req.version, "expires": req.expires }),
    )
    .await?;
    Ok(Json(BundleAssignmentResponse {
        assignment,
        root_version: state.keys().root.version,
    }))
}
