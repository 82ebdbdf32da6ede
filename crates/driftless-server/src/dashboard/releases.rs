//! The releases page: per app, each release's state, the channels that point at it,
//! its notes, and its images with their digests.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use driftless_wire::release::ReleaseDocument;
use driftless_wire::{Envelope, RELEASE_PAYLOAD_TYPE};

use super::page::{render, Chrome, PageError};
use super::session::Operator;
use super::time_format::when;
use crate::state::AppState;

/// The releases page.
pub(crate) const PATH: &str = "/dashboard/releases";

pub(crate) struct ReleaseRow {
    pub(crate) app: String,
    pub(crate) version: String,
    pub(crate) counter: u64,
    pub(crate) state: &'static str,
    pub(crate) published: String,
    pub(crate) channels: String,
    pub(crate) notes: String,
    pub(crate) images: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "releases.html")]
pub(crate) struct ReleasesPage {
    pub(crate) chrome: Chrome,
    pub(crate) releases: Vec<ReleaseRow>,
}

/// `GET /dashboard/releases`.
pub(crate) async fn page(
    State(state): State<AppState>,
    operator: Operator,
) -> Result<Response, PageError> {
    render(&releases_page(&state, operator.csrf).await?)
}

/// The page's data, newest release of each app first.
pub(crate) async fn releases_page(
    state: &AppState,
    csrf: String,
) -> Result<ReleasesPage, PageError> {
    let mut releases = Vec::new();
    for app in state.store.list_apps().await? {
        let channels = state.store.list_channels(&app.name).await?;
        let mut rows = state.store.list_releases(&app.name).await?;
        rows.sort_by_key(|r| std::cmp::Reverse(r.release_counter));
        for r in rows {
            let doc: Option<ReleaseDocument> = serde_json::from_str::<Envelope>(&r.envelope)
                .ok()
                .and_then(|e| e.decode(RELEASE_PAYLOAD_TYPE, "release").ok());
            let on: Vec<&str> = channels
                .iter()
                .filter(|c| c.version.as_deref() == Some(r.version.as_str()))
                .map(|c| c.name.as_str())
                .collect();
            releases.push(ReleaseRow {
                app: r.app.clone(),
                counter: r.release_counter,
                state: r.state.name(),
                published: when(r.created_at),
                channels: on.join(", "),
                notes: doc
                    .as_ref()
                    .and_then(|d| d.notes.clone())
                    .unwrap_or_default(),
                images: doc
                    .map(|d| {
                        d.images
                            .into_iter()
                            .map(|i| (i.service, format!("{}@{}", i.repository, i.digest)))
                            .collect()
                    })
                    .unwrap_or_default(),
                version: r.version,
            });
        }
    }
    Ok(ReleasesPage {
        chrome: Chrome {
            csrf,
            active: "releases",
        },
        releases,
    })
}
