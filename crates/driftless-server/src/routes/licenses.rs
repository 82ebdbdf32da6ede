//! Licenses (vendor API): create one (the only answer that shows its key), list
//! them, revoke one.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use driftless_store::License;
use driftless_wire::api::{CreateLicense, LicenseInfo};
use rand::RngCore as _;

use super::audit;
use super::input::parse_json;
use super::lookup::require_app;
use crate::auth::{require_operator, secret_hash};
use crate::error::ApiError;
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
            format!(
                "unknown customer `{}`; create it with `driftless-vendor customer create`",
                req.customer
            ),
        ));
    }
    require_app(state, &req.app).await?;
    if state
        .store
        .get_channel(&req.app, &req.channel)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(
            "unknown_channel",
            format!("unknown channel `{}` of app `{}`", req.channel, req.app),
        ));
    }
    Ok(())
}

/// `POST /v1/licenses`: the answer carries the secret key, the only time it is shown.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<LicenseInfo>), ApiError> {
    require_operator(&state, &headers)?;
    let req: CreateLicense = parse_json(&body, "license")?;
    check_license_request(&state, &req).await?;
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
    state.store.create_license(&license).await?;
    audit::record(
        &state,
        "license.create",
        &license.id,
        serde_json::json!({ "customer": req.customer, "app": req.app, "channel": req.channel }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(license_info(&license, Some(key)))))
}

/// `GET /v1/licenses`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<LicenseInfo>>, ApiError> {
    require_operator(&state, &headers)?;
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

/// `POST /v1/licenses/{id}/revoke`: revokes the license and every install of it.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_operator(&state, &headers)?;
    if !state.store.revoke_license(&id, now()).await? {
        return Err(ApiError::not_found(
            "unknown_license",
            format!("no license `{id}`"),
        ));
    }
    audit::record(&state, "license.revoke", &id, serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}
