//! `POST /v1/receipts` (vendor API): a status receipt an air-gapped host signed, carried
//! back by hand. Verified (the host key it names signed it, newer than every receipt
//! of that host before), the host is recorded as an air-gapped install of its license
//! (created at its first receipt) with what the receipt reports.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use driftless_bundle::verify_receipt;
use driftless_store::{CheckinReport, Install};
use driftless_wire::airgap::{airgap_install_id, ReceiptImported};
use driftless_wire::{Digest, Envelope};

use super::audit;
use super::input::parse_json;
use crate::error::ApiError;
use crate::state::AppState;

fn refused(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "receipt_refused", message)
}

/// `POST /v1/receipts`.
pub async fn import(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<ReceiptImported>, ApiError> {
    let env: Envelope = parse_json(&body, "status receipt")?;
    let r = verify_receipt(&env, None).map_err(|e| refused(e.to_string()))?;
    let key_hash = r.install_id.strip_prefix("license-").unwrap_or_default();
    let license = state
        .store
        .license_by_key_hash(key_hash)
        .await?
        .filter(|l| !l.revoked && l.app == r.app)
        .ok_or_else(|| {
            refused(format!(
                "the receipt names no active license of app `{}`",
                r.app
            ))
        })?;
    let id = airgap_install_id(&r.public_key.public);
    if state.store.get_install(&id).await?.is_none() {
        state
            .store
            .create_install(&Install {
                id: id.clone(),
                license_id: license.id.clone(),
                customer: license.customer.clone(),
                app: license.app.clone(),
                channel: license.channel.clone(),
                public_key: r.public_key.public.clone(),
                hostname: "air-gapped".into(),
                platform: text(&r.status, "platform").unwrap_or_default(),
                revoked: false,
                created_at: r.issued_at,
                uninstalled_at: None,
            })
            .await?;
    }
    // The install's replay clock: a receipt not newer than the last one imported (a
    // replay, or an older one brought late) is refused.
    let at_ms = r.issued_at.saturating_mul(1000) + i64::try_from(r.sequence % 1000).unwrap_or(0);
    if !state.store.accept_signed_request(&id, at_ms).await? {
        return Err(refused(format!(
            "receipt {} of install {id} is not newer than the last one imported",
            r.sequence
        )));
    }
    state
        .store
        .record_checkin(&id, &report_of(&r), None)
        .await?;
    let digest = Digest::of(&env.payload_bytes().map_err(|e| refused(e.to_string()))?);
    audit::record(
        &state,
        "install.receipt",
        &id,
        serde_json::json!({ "sequence": r.sequence, "digest": digest.to_string() }),
    )
    .await?;
    Ok(Json(ReceiptImported {
        install_id: id,
        sequence: r.sequence,
        issued_at: r.issued_at,
    }))
}

fn text(v: &serde_json::Value, field: &str) -> Option<String> {
    v.get(field)
        .and_then(|f| f.as_str())
        .map(|s| s.chars().take(253).collect())
}

fn report_of(r: &driftless_bundle::Receipt) -> CheckinReport {
    CheckinReport {
        at: r.issued_at,
        status: text(&r.status, "status").unwrap_or_else(|| "new".into()),
        version: text(&r.status, "current_version"),
        release_counter: None,
        cli_version: text(&r.status, "cli_version").unwrap_or_default(),
        free_disk_bytes: None,
        target_version: text(&r.status, "target_version"),
        reason: r
            .status
            .get("reason")
            .filter(|v| !v.is_null())
            .map(|v| v.to_string()),
        policy: r
            .status
            .pointer("/policy/policy")
            .and_then(|p| p.as_str())
            .map(str::to_string),
        waiting: None,
    }
}
