//! Licenses (vendor API): create one (the only answer that shows its key), list
//! them, show one with its terms, change its terms, revoke one.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use driftless_store::{AuditedChange, License, LicenseTerms};
use driftless_wire::api::{CreateLicense, LicenseDetail, LicenseInfo, LicenseTermsInfo};
use rand::RngCore as _;

use super::audit;
use super::input::parse_json;
use super::lookup::{require_app, require_channel};
use crate::auth::secret_hash;
use crate::error::ApiError;
use crate::license_terms::{info_of, terms_of};
use crate::now;
use crate::state::AppState;

fn license_info(l: &License, key: Option<String>) -> LicenseInfo {
    LicenseInfo {
        id: l.id.clone(),
        customer: l.customer.clone(),
        app: l.app.clone(),
        channel: l.channel.clone(),
        revoked: l.revoked,
        key,
    }
}

/// Requires the customer, app and channel a new license names.
async fn check_license_request(state: &AppState, req: &CreateLicense) -> Result<(), ApiError> {
    if state.store.get_customer(&req.customer).await?.is_none() {
        return Err(ApiError::not_found(
            "unknown_customer",
            format!("unknown customer `{}`", req.customer),
        )
        .with_hint("create it with `driftless-vendor customer create`"));
    }
    require_app(state, &req.app).await?;
    require_channel(state, &req.app, &req.channel).await?;
    Ok(())
}

/// Requires every channel `terms` allows to exist, and the license's own channel (the
/// one new installs follow) to be among them.
async fn check_channels(
    state: &AppState,
    app: &str,
    channel: &str,
    terms: &LicenseTerms,
) -> Result<(), ApiError> {
    for allowed in &terms.channels {
        require_channel(state, app, allowed).await?;
    }
    if !terms.allows_channel(channel) {
        return Err(ApiError::bad_request(format!(
            "the license's channel `{channel}` must be one of its allowed channels ({})",
            terms.channels.join(", ")
        )));
    }
    Ok(())
}

/// `POST /v1/licenses`: the answer carries the secret key, the only time it is shown.
pub async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<LicenseInfo>), ApiError> {
    let req: CreateLicense = parse_json(&body, "license")?;
    check_license_request(&state, &req).await?;
    let terms = terms_of(&req.terms)?;
    check_channels(&state, &req.app, &req.channel, &terms).await?;
    let mut secret = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let key = format!("dl_{}", hex::encode(secret));
    let license = License {
        id: format!("lic_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
        customer: req.customer.clone(),
        app: req.app.clone(),
        channel: req.channel.clone(),
        key_hash: secret_hash(&key),
        revoked: false,
        created_at: now(),
    };
    let detail = serde_json::json!({
        "customer": req.customer, "app": req.app, "channel": req.channel,
        "terms": info_of(&terms),
    });
    // The license, its terms and its entry are one transaction: no install can
    // register under a license whose terms are still the defaults.
    let change = AuditedChange::CreateLicense {
        license: license.clone(),
        terms,
    };
    audit::apply(&state, change, "license.create", &license.id, detail).await?;
    Ok((StatusCode::CREATED, Json(license_info(&license, Some(key)))))
}

/// `GET /v1/licenses`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<LicenseInfo>>, ApiError> {
    Ok(Json(
        state
            .store
            .list_licenses()
            .await?
            .iter()
            .map(|l| license_info(l, None))
            .collect(),
    ))
}

/// License `id` with its terms, or `404`.
async fn require_license(state: &AppState, id: &str) -> Result<(License, LicenseTerms), ApiError> {
    state
        .store
        .get_license(id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_license", format!("no license `{id}`")))
}

/// `GET /v1/licenses/{id}`: the license and its terms.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LicenseDetail>, ApiError> {
    let (license, terms) = require_license(&state, &id).await?;
    Ok(Json(LicenseDetail {
        license: license_info(&license, None),
        terms: info_of(&terms),
    }))
}

/// `POST /v1/licenses/{id}/terms`: replaces the license's terms. Its installs see new
/// entitlements, expiry and channels at their next check-in, without a release.
pub async fn set_terms(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<LicenseDetail>, ApiError> {
    let info: LicenseTermsInfo = parse_json(&body, "license terms")?;
    let terms = terms_of(&info)?;
    let (license, before) = require_license(&state, &id).await?;
    check_channels(&state, &license.app, &license.channel, &terms).await?;
    let detail = serde_json::json!({ "from": info_of(&before), "to": info_of(&terms) });
    let change = AuditedChange::SetLicenseTerms {
        id: id.clone(),
        terms: terms.clone(),
    };
    if !audit::apply(&state, change, "license.update", &id, detail)
        .await?
        .happened()
    {
        return Err(ApiError::not_found(
            "unknown_license",
            format!("no license `{id}`"),
        ));
    }
    Ok(Json(LicenseDetail {
        license: license_info(&license, None),
        terms: info_of(&terms),
    }))
}

/// `POST /v1/licenses/{id}/revoke`: revokes the license and every install of it.
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let change = AuditedChange::RevokeLicense {
        id: id.clone(),
        now: now(),
    };
    let applied = audit::apply(&state, change, "license.revoke", &id, serde_json::json!({}));
    if !applied.await?.happened() {
        return Err(ApiError::not_found(
            "unknown_license",
            format!("no license `{id}`"),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}
