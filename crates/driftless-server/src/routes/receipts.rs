//! `POST /v1/receipts` (vendor API): a status receipt an air-gapped host signed, carried
//! back by hand. Verified (the host key it names signed it, and it names the last
//! receipt imported from that host as its previous, so a fork, a gap or a replay is
//! refused; the first one imported starts the chain), the host is recorded as an
//! air-gapped install of its license (created at its first receipt) with what the
//! receipt reports.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use driftless_bundle::verify_receipt;
use driftless_store::{Applied, AuditedChange, CheckinReport, Install};
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
    let install = Install {
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
    };
    let digest = Digest::of(&env.payload_bytes().map_err(|e| refused(e.to_string()))?);
    let sequence = i64::try_from(r.sequence).map_err(|_| refused("its sequence is too large"))?;
    let detail = serde_json::json!({ "sequence": r.sequence, "digest": digest.to_string() });
    // The install (at its first receipt), the chain's link, the report and the entry
    // are one transaction: a refused receipt leaves nothing behind.
    let change = AuditedChange::ImportReceipt {
        install,
        previous: r.previous.as_ref().map(|d| d.to_string()),
        sequence,
        digest: digest.to_string(),
        report: Box::new(report_of(&r)),
    };
    let applied = audit::apply(&state, change, "install.receipt", &id, detail).await?;
    if let Applied::ReceiptRefused {
        sequence: last,
        digest: last_digest,
    } = applied
    {
        return Err(refused(chain_refusal(
            &id,
            sequence,
            &digest,
            last,
            &last_digest,
        )));
    }
    Ok(Json(ReceiptImported {
        install_id: id,
        sequence: r.sequence,
        issued_at: r.issued_at,
    }))
}

/// Why receipt `sequence` does not follow receipt `last`, the last one imported.
fn chain_refusal(id: &str, sequence: i64, digest: &Digest, last: i64, last_digest: &str) -> String {
    if digest.to_string() == last_digest {
        return format!("receipt {sequence} of install {id} was imported already (a replay)");
    }
    if sequence <= last {
        return format!(
            "receipt {sequence} of install {id} is not newer than receipt {last}, the last one imported (a replay or a fork)"
        );
    }
    if sequence > last + 1 {
        return format!(
            "a gap: the last receipt of install {id} imported is {last}, this is {sequence}; import receipts {}..{} first",
            last + 1,
            sequence - 1
        );
    }
    format!(
        "a fork: receipt {sequence} of install {id} does not follow receipt {last} ({last_digest}), the last one imported; the host's state was restored or copied"
    )
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
