//! The route table. Each resource's handlers live in a module of their own; the
//! vendor API's need the operator token, the install API's an install's signature.

mod apps;
mod artifacts;
mod audit;
mod bundle_assignment;
mod channels;
mod customers;
mod exposure;
mod fleet;
pub(crate) mod input;
mod install;
mod licenses;
mod lookup;
mod page_cursor;
mod policies;
mod push_token;
mod receipts;
mod releases;
pub(crate) mod rollouts;
mod sboms;
mod support_bundles;
mod trust;
mod uninstall;
mod webhooks;

use axum::routing::{delete, get, post, put};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;

pub(crate) use artifacts::read as read_artifact;
pub(crate) use audit::record as audit_record;

use crate::state::AppState;
use crate::MAX_BODY_BYTES;
use driftless_wire::api::MAX_ARTIFACT_BYTES;

/// Every route of the control plane.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(crate::metrics::scrape))
        .route("/v1/info", get(trust::info))
        .route("/v1/trust/root/{version}", get(trust::root))
        .route("/v1/apps", post(apps::create).get(apps::list))
        .route("/v1/apps/{app}/channels", post(channels::create))
        .route(
            "/v1/apps/{app}/channels/{channel}/promote",
            post(channels::promote),
        )
        .route(
            "/v1/apps/{app}/releases",
            post(releases::upload).get(releases::list),
        )
        .route("/v1/apps/{app}/releases/{version}", get(releases::get))
        .route(
            "/v1/apps/{app}/releases/{version}/state",
            post(releases::set_state),
        )
        .route(
            "/v1/apps/{app}/releases/{version}/sboms/{service}",
            get(sboms::download),
        )
        .route(
            "/v1/apps/{app}/channels/{channel}/policy",
            get(policies::show).put(policies::set),
        )
        .route("/v1/exposure/{advisory}", get(exposure::list))
        .route("/v1/apps/{app}/push-token", post(push_token::issue))
        .route("/v1/apps/{app}/rollouts", get(rollouts::list))
        .route(
            "/v1/apps/{app}/webhooks",
            post(webhooks::create).get(webhooks::list),
        )
        .route("/v1/apps/{app}/webhooks/{id}", delete(webhooks::remove))
        .route(
            "/v1/apps/{app}/webhook-deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/v1/apps/{app}/channels/{channel}/rollouts",
            post(rollouts::start),
        )
        .route(
            "/v1/apps/{app}/channels/{channel}/rollout/{action}",
            post(rollouts::act),
        )
        .route(
            "/v1/customers",
            post(customers::create).get(customers::list),
        )
        .route("/v1/licenses", post(licenses::create).get(licenses::list))
        .route("/v1/licenses/{id}", get(licenses::show))
        .route("/v1/licenses/{id}/terms", post(licenses::set_terms))
        .route("/v1/licenses/{id}/revoke", post(licenses::revoke))
        .route(
            "/v1/licenses/{id}/bundle-assignment",
            post(bundle_assignment::issue),
        )
        .route("/v1/receipts", post(receipts::import))
        .route("/v1/installs", post(install::register).get(fleet::list))
        .route("/v1/installs/{id}/revoke", post(fleet::revoke))
        .route("/v1/installs/{id}/move", post(fleet::move_to_channel))
        .route("/v1/installs/{id}/checkin", post(install::checkin))
        .route("/v1/installs/{id}/session", post(crate::session::open))
        .route("/v1/installs/{id}/uninstall", post(uninstall::uninstall))
        .route(
            "/v1/installs/{id}/registry-login",
            post(crate::registry_login::issue),
        )
        .route(
            "/v1/installs/{id}/registry-token",
            post(crate::registry_renewal::renew),
        )
        .route(
            "/v1/installs/{id}/audit-checkpoint",
            post(crate::audit_witness::witness),
        )
        .route("/v1/fleet/summary", get(fleet::summary))
        .route("/v1/audit", get(audit::list))
        .route(
            "/v1/audit/checkpoint",
            get(audit::checkpoint).post(audit::sign_checkpoint),
        )
        .route("/v1/registry/token", get(crate::registry::token_endpoint))
        .merge(crate::dashboard::router())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // Merged after the layer above so only this route takes bodies up to an
        // artifact's size.
        .merge(
            Router::new()
                .route(
                    "/v1/artifacts/{digest}",
                    put(artifacts::upload).get(artifacts::download),
                )
                .layer(RequestBodyLimitLayer::new(MAX_ARTIFACT_BYTES as usize)),
        )
        // Capped by the handler at the configured `max_support_bundle_bytes`, with a
        // 413 that says so.
        .route(
            "/v1/installs/{id}/support-bundles",
            post(support_bundles::upload).get(support_bundles::list),
        )
        .route(
            "/v1/installs/{id}/support-bundles/{n}",
            get(support_bundles::download),
        )
        .with_state(state)
}
