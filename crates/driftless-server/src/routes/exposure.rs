//! Exposure to an advisory (vendor API): which releases contain an affected
//! component (from their SBOMs), and which installs report running one of them.

use axum::extract::{Path, State};
use axum::Json;
use driftless_sbom::Advisory;
use std::collections::BTreeMap;

use crate::error::ApiError;
use crate::gate::{document_of, osv_data, sboms_of};
use crate::state::AppState;

/// `GET /v1/exposure/{advisory}`.
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(osv) = osv_data(&state).await? else {
        return Err(
            ApiError::conflict("no_osv_data", "the control plane has no OSV data set")
                .with_hint("set osv_dir in serve's settings to a directory of OSV records"),
        );
    };
    let Some(advisory) = osv.get(&id) else {
        return Err(ApiError::not_found(
            "unknown_advisory",
            format!("the OSV data set has no advisory `{id}`"),
        )
        .with_hint("check the id, or refresh the OSV directory"));
    };
    let releases = affected_releases(&state, advisory).await?;
    let mut installs = Vec::new();
    for s in state.store.list_installs(None).await? {
        let running = s.last_report.as_ref().and_then(|r| r.version.clone());
        let key = (s.install.app.clone(), running.clone().unwrap_or_default());
        if let Some(components) = releases.get(&key) {
            installs.push(serde_json::json!({
                "install": s.install.id,
                "customer": s.install.customer,
                "app": s.install.app,
                "channel": s.install.channel,
                "version": running,
                "components": components,
            }));
        }
    }
    let releases: Vec<_> = releases
        .iter()
        .map(|((app, version), c)| serde_json::json!({"app": app, "version": version, "components": c}))
        .collect();
    Ok(Json(serde_json::json!({
        "advisory": advisory.id,
        "severity": advisory.severity,
        "summary": advisory.summary,
        "releases": releases,
        "installs": installs,
    })))
}

/// `(app, version)` of every release with an affected component, and those components
/// as `service: name@version`.
async fn affected_releases(
    state: &AppState,
    advisory: &Advisory,
) -> Result<BTreeMap<(String, String), Vec<String>>, ApiError> {
    let mut out = BTreeMap::new();
    for app in state.store.list_apps().await? {
        for release in state.store.list_releases(&app.name).await? {
            let doc = document_of(&release)?;
            if doc.sboms.is_empty() {
                continue;
            }
            let mut hits = Vec::new();
            for (service, sbom) in sboms_of(state, &doc).await? {
                for c in sbom.iter().flat_map(|s| &s.components) {
                    if advisory.affects_component(c) {
                        hits.push(format!("{service}: {}", c.label()));
                    }
                }
            }
            if !hits.is_empty() {
                out.insert((app.name.clone(), release.version.clone()), hits);
            }
        }
    }
    Ok(out)
}
