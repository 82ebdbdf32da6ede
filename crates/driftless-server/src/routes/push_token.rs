//! Registry push tokens (vendor API): a short-lived token for vendor CI to push one new
//! release's images and descriptor into that release's own repositories
//! (`<app>/r<counter>/…`), and nothing of any release that already exists.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use driftless_registry_token::{is_release_repository, release_repository, Access};
use driftless_store::Release;
use driftless_wire::api::{PushTokenRequest, TokenResponse};
use driftless_wire::release::ReleaseDocument;
use driftless_wire::{Envelope, RELEASE_PAYLOAD_TYPE};

use super::audit;
use super::input::parse_json;
use super::lookup::require_app;
use crate::error::ApiError;
use crate::state::AppState;

/// How many of the app's newest releases a push token may pull from (see [`mount_sources`]).
const MOUNT_SOURCE_RELEASES: usize = 3;

/// `POST /v1/apps/{app}/push-token`: a short-lived token for vendor CI to publish the
/// release `release_counter`.
///
/// It grants pull and push on exactly the requested repositories of that release, whose
/// counter must be above every existing release's, so no token can ever overwrite a
/// release that exists; and pull (never push) on the repositories of the app's newest
/// releases, which mounting their layers needs (see [`mount_sources`]).
pub async fn issue(
    State(state): State<AppState>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Json<TokenResponse>, ApiError> {
    let req: PushTokenRequest = parse_json(&body, "push token request")?;
    require_app(&state, &app).await?;
    let counter = req.release_counter;
    let highest = state.store.max_release_counter(&app).await?;
    if counter <= highest {
        return Err(ApiError::conflict(
            "stale_counter",
            format!(
                "release counter {counter} is not above {highest}, the highest of app `{app}`: \
                 its repositories belong to a release that exists"
            ),
        )
        .with_hint(format!("ask for release counter {}", highest + 1)));
    }
    let mut access = Vec::new();
    for repo in &req.repositories {
        if !is_release_repository(repo, &app, counter) {
            return Err(ApiError::bad_request(format!(
                "repository `{repo}` is not a repository of release {counter} of `{app}`"
            ))
            .with_hint(format!(
                "name it {}",
                release_repository(&app, counter, "<service>")
            )));
        }
        access.push(Access::repository(repo, &["pull", "push"]));
    }
    let sources = mount_sources(&state, &app).await?;
    access.extend(sources.iter().map(|r| Access::repository(r, &["pull"])));
    let token = crate::registry::mint(&state, &crate::access::current_actor(), access)?;
    audit::record(
        &state,
        "registry.push_token",
        &app,
        serde_json::json!({
            "release_counter": counter,
            "repositories": req.repositories,
            "mount_from": sources,
        }),
    )
    .await?;
    Ok(Json(token))
}

/// The repositories of the app's newest [`MOUNT_SOURCE_RELEASES`] releases.
///
/// Pull on them is granted only because mounting needs it: the Docker Engine uploads a
/// layer it pushed before by mounting it from the repository it last pushed it to
/// (`POST …/blobs/uploads/?mount=…&from=…`), and distribution refuses that mount unless
/// the token grants pull on `from`; without it the engine uploads the layer again. It
/// tries at most three such repositories per layer (one under 100 KB), the ones it
/// pushed to most recently, so for a vendor publishing release after release the
/// newest releases are enough, and older ones would only lengthen the token.
async fn mount_sources(state: &AppState, app: &str) -> Result<Vec<String>, ApiError> {
    let releases = state.store.list_releases(app).await?;
    let mut repos = Vec::new();
    for release in releases.iter().take(MOUNT_SOURCE_RELEASES) {
        repos.extend(release_document(release)?.repositories());
    }
    repos.sort();
    repos.dedup();
    Ok(repos)
}

/// The decoded document of a stored release.
fn release_document(release: &Release) -> Result<ReleaseDocument, ApiError> {
    let env: Envelope = serde_json::from_str(&release.envelope).map_err(ApiError::internal)?;
    env.decode(RELEASE_PAYLOAD_TYPE, "release document")
        .map_err(ApiError::internal)
}
