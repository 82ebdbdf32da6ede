//! The route table and the small pieces every handler uses.

mod artifacts;
mod install;
mod rollouts;
mod trust;
mod vendor;

use axum::routing::{get, post, put};
use axum::Router;
use serde::de::DeserializeOwned;
use tower_http::limit::RequestBodyLimitLayer;

use crate::error::ApiError;
use crate::state::AppState;
use crate::MAX_BODY_BYTES;
use driftless_wire::api::MAX_ARTIFACT_BYTES;

/// Every route of the control plane.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/info", get(trust::info))
        .route("/v1/trust/root/{version}", get(trust::root))
        .route("/v1/apps", post(vendor::create_app).get(vendor::list_apps))
        .route("/v1/apps/{app}/channels", post(vendor::create_channel))
        .route(
            "/v1/apps/{app}/channels/{channel}/promote",
            post(vendor::promote),
        )
        .route(
            "/v1/apps/{app}/releases",
            post(vendor::upload_release).get(vendor::list_releases),
        )
        .route(
            "/v1/apps/{app}/releases/{version}",
            get(vendor::get_release),
        )
        .route("/v1/apps/{app}/push-token", post(vendor::push_token))
        .route("/v1/apps/{app}/rollouts", get(rollouts::list))
        .route(
            "/v1/apps/{app}/channels/{channel}/rollouts",
            post(rollouts::start),
        )
        .route(
            "/v1/apps/{app}/channels/{channel}/rollout/{action}",
            post(rollouts::act),
        )
        .route(
            "/v1/apps/{app}/releases/{version}/state",
            post(rollouts::set_release_state),
        )
        .route("/v1/installs/{id}/move", post(rollouts::move_install))
        .route(
            "/v1/customers",
            post(vendor::create_customer).get(vendor::list_customers),
        )
        .route(
            "/v1/licenses",
            post(vendor::create_license).get(vendor::list_licenses),
        )
        .route("/v1/licenses/{id}/revoke", post(vendor::revoke_license))
        .route(
            "/v1/installs",
            post(install::register).get(vendor::list_installs),
        )
        .route("/v1/installs/{id}/revoke", post(vendor::revoke_install))
        .route("/v1/installs/{id}/checkin", post(install::checkin))
        .route("/v1/audit", get(vendor::list_audit))
        .route("/v1/registry/token", get(crate::registry::token_endpoint))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // Merged after the layer above so only this route takes bodies up to an
        // artifact's size; it streams them to disk rather than holding them.
        .merge(
            Router::new()
                .route(
                    "/v1/artifacts/{digest}",
                    put(artifacts::upload).get(artifacts::download),
                )
                .layer(RequestBodyLimitLayer::new(MAX_ARTIFACT_BYTES as usize)),
        )
        .with_state(state)
}

/// Parses a JSON body, answering 400 with what was wrong.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed {what}: {e}")))
}

/// Checks a lowercase name usable as a registry path component (apps, channels).
pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && driftless_registry_token::valid_repository_name(name)
        && !name.contains('/');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid {kind} name `{name}`: use lowercase letters and digits, with single '.', '_' or '-' between them"
        )))
    }
}
