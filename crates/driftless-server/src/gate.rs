//! The promotion gate: before `promote` or `rollout start` points a channel at a
//! release, the channel's policy is evaluated against the release's SBOMs (read from
//! the artifact store by the digests the release signs) and the OSV data set in
//! `osv_dir`. A refusal answers `409 gate_refused` with every finding; an explicit
//! override passes and is audited with its reason and what it overrode.

use driftless_sbom::{evaluate, ChannelPolicy, Finding, OsvDataSet, Sbom, ServiceSbom};
use driftless_store::{AuditEvent, Release};
use driftless_wire::release::ReleaseDocument;
use driftless_wire::{Envelope, RELEASE_PAYLOAD_TYPE};

use crate::error::ApiError;
use crate::routes::{audit_event, read_artifact};
use crate::state::AppState;

/// How many findings the refusal lists before saying how many more there are.
const REPORTED_FINDINGS: usize = 20;

/// The channel's policy, the empty one when none is set.
pub(crate) async fn policy_of(
    state: &AppState,
    app: &str,
    channel: &str,
) -> Result<ChannelPolicy, ApiError> {
    match state.store.channel_policy(app, channel).await? {
        Some(json) => serde_json::from_str(&json).map_err(ApiError::internal),
        None => Ok(ChannelPolicy::default()),
    }
}

/// The signed release document of a stored release.
pub(crate) fn document_of(release: &Release) -> Result<ReleaseDocument, ApiError> {
    let env: Envelope = serde_json::from_str(&release.envelope).map_err(ApiError::internal)?;
    env.decode(RELEASE_PAYLOAD_TYPE, "release document")
        .map_err(ApiError::internal)
}

/// Each service of `doc` with its parsed SBOM (none when the release names none).
pub(crate) async fn sboms_of(
    state: &AppState,
    doc: &ReleaseDocument,
) -> Result<Vec<(String, Option<Sbom>)>, ApiError> {
    let mut out = Vec::new();
    for image in &doc.images {
        let sbom = match doc.sboms.iter().find(|s| s.service == image.service) {
            Some(r) => {
                let bytes = read_artifact(state, &r.digest).await?.ok_or_else(|| {
                    ApiError::conflict(
                        "sbom_missing",
                        format!(
                            "release {} names SBOM {} of service `{}` but the control plane does not hold it",
                            doc.version, r.digest, r.service
                        ),
                    )
                    .with_hint("publish uploads it; upload it again with the same digest")
                })?;
                let what = format!("the SBOM of service `{}`", r.service);
                Some(
                    driftless_sbom::parse(&bytes, &what)
                        .map_err(|e| ApiError::conflict("sbom_unreadable", e.to_string()))?,
                )
            }
            None => None,
        };
        out.push((image.service.clone(), sbom));
    }
    Ok(out)
}

/// The OSV data set of `osv_dir`, `None` when the control plane has none.
pub(crate) async fn osv_data(state: &AppState) -> Result<Option<OsvDataSet>, ApiError> {
    let Some(dir) = state.config.osv_dir.clone() else {
        return Ok(None);
    };
    let loaded = tokio::task::spawn_blocking(move || OsvDataSet::load_dir(&dir))
        .await
        .map_err(ApiError::internal)?;
    loaded.map(Some).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "osv_unreadable",
            e.to_string(),
        )
        .with_hint(
            "fix or refresh the OSV directory (serve's osv_dir setting); nothing was changed",
        )
    })
}

/// Evaluates `channel`'s gate for `release`; refuses, or passes. When it would refuse
/// and `override_reason` is given, it passes with the override's audit entry, which
/// the caller appends in the promotion's own transaction.
pub(crate) async fn check(
    state: &AppState,
    app: &str,
    channel: &str,
    release: &Release,
    override_reason: Option<&str>,
) -> Result<Option<AuditEvent>, ApiError> {
    let policy = policy_of(state, app, channel).await?;
    if policy.is_empty() {
        return Ok(None);
    }
    let doc = document_of(release)?;
    let sboms = sboms_of(state, &doc).await?;
    let osv = osv_data(state).await?;
    let services: Vec<ServiceSbom<'_>> = sboms
        .iter()
        .map(|(service, sbom)| ServiceSbom {
            service,
            sbom: sbom.as_ref(),
        })
        .collect();
    let findings = evaluate(&policy, &services, osv.as_ref(), crate::now());
    if findings.is_empty() {
        return Ok(None);
    }
    let subject = format!("{app}/{channel}@{}", release.version);
    match override_reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) => {
            tracing::warn!(%subject, reason, findings = findings.len(), "promotion gate overridden");
            let detail = serde_json::json!({ "reason": reason, "findings": findings });
            Ok(Some(audit_event("gate.override", &subject, detail)))
        }
        None => Err(refusal(app, channel, &release.version, &findings)),
    }
}

fn refusal(app: &str, channel: &str, version: &str, findings: &[Finding]) -> ApiError {
    let mut report: Vec<String> = findings
        .iter()
        .take(REPORTED_FINDINGS)
        .map(Finding::to_string)
        .collect();
    if findings.len() > REPORTED_FINDINGS {
        report.push(format!("and {} more", findings.len() - REPORTED_FINDINGS));
    }
    ApiError::conflict(
        "gate_refused",
        format!(
            "the gate of channel `{app}/{channel}` refuses {version} ({} findings): {}",
            findings.len(),
            report.join("; ")
        ),
    )
    .with_hint("publish a release that fixes it, or pass --override-gate \"REASON\" (audited)")
}
