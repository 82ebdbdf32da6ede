//! The route table. Each resource's handlers live in a module of their own; each route
//! is registered with its access rule (see [`crate::access`]): the vendor API's need a
//! principal whose role allows them, the install API's an install's signature.

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
mod tokens;
mod trust;
mod uninstall;
mod users;
mod webhooks;

use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;

pub(crate) use artifacts::read as read_artifact;
pub(crate) use audit::principal_event as audit_event;

use crate::access::Need::{Owner, Publish, ReadApp, ReadFleet, Release, RevokeInstall};
use crate::access::{vendor, Access, RouteRule, RuleBook};
use crate::state::AppState;
use crate::MAX_BODY_BYTES;
use driftless_wire::api::MAX_ARTIFACT_BYTES;

/// Routes and the access rule of each.
type RuleRoutes = (Router<AppState>, Vec<RouteRule>);

/// Content-addressed uploads: a principal scoped to one app may make them.
const UPLOAD: Access = Access::Vendor {
    need: Publish,
    any_app: true,
};

/// The API's routes (bodies up to [`MAX_BODY_BYTES`]) and their rules.
fn api() -> RuleRoutes {
    route_table! {
        "/healthz" => [GET || async { "ok" } => Access::Public],
        "/metrics" => [GET crate::metrics::scrape => Access::Own],
        "/v1/info" => [GET trust::info => Access::Public],
        "/v1/trust/root/{version}" => [GET trust::root => Access::Public],
        "/v1/apps" => [POST apps::create => vendor(Owner), GET apps::list => vendor(ReadApp)],
        "/v1/apps/{app}/channels" => [POST channels::create => vendor(Release)],
        "/v1/apps/{app}/channels/{channel}/promote" => [POST channels::promote => vendor(Release)],
        "/v1/apps/{app}/releases" => [
            POST releases::upload => vendor(Publish),
            // Publishing reads the counters taken so far.
            GET releases::list => vendor(Publish),
        ],
        "/v1/apps/{app}/releases/{version}" => [GET releases::get => vendor(ReadApp)],
        "/v1/apps/{app}/releases/{version}/state" => [POST releases::set_state => vendor(Release)],
        "/v1/apps/{app}/releases/{version}/sboms/{service}" => [GET sboms::download => vendor(ReadApp)],
        "/v1/apps/{app}/channels/{channel}/policy" => [
            GET policies::show => vendor(ReadApp),
            PUT policies::set => vendor(Release),
        ],
        "/v1/exposure/{advisory}" => [GET exposure::list => vendor(ReadFleet)],
        "/v1/apps/{app}/push-token" => [POST push_token::issue => vendor(Publish)],
        "/v1/apps/{app}/rollouts" => [GET rollouts::list => vendor(ReadApp)],
        "/v1/apps/{app}/webhooks" => [POST webhooks::create => vendor(Owner), GET webhooks::list => vendor(Owner)],
        "/v1/apps/{app}/webhooks/{id}" => [DELETE webhooks::remove => vendor(Owner)],
        "/v1/apps/{app}/webhook-deliveries" => [GET webhooks::deliveries => vendor(Owner)],
        "/v1/apps/{app}/channels/{channel}/rollouts" => [POST rollouts::start => vendor(Release)],
        "/v1/apps/{app}/channels/{channel}/rollout/{action}" => [POST rollouts::act => vendor(Release)],
        "/v1/customers" => [POST customers::create => vendor(Owner), GET customers::list => vendor(ReadFleet)],
        "/v1/licenses" => [POST licenses::create => vendor(Owner), GET licenses::list => vendor(ReadFleet)],
        "/v1/licenses/{id}" => [GET licenses::show => vendor(ReadFleet)],
        "/v1/licenses/{id}/terms" => [POST licenses::set_terms => vendor(Owner)],
        "/v1/licenses/{id}/revoke" => [POST licenses::revoke => vendor(Owner)],
        "/v1/licenses/{id}/bundle-assignment" => [POST bundle_assignment::issue => vendor(Owner)],
        "/v1/receipts" => [POST receipts::import => vendor(Owner)],
        "/v1/installs" => [POST install::register => Access::Install, GET fleet::list => vendor(ReadFleet)],
        "/v1/installs/{id}/revoke" => [POST fleet::revoke => vendor(RevokeInstall)],
        "/v1/installs/{id}/move" => [POST fleet::move_to_channel => vendor(Release)],
        "/v1/installs/{id}/checkin" => [POST install::checkin => Access::Install],
        "/v1/installs/{id}/session" => [POST crate::session::open => Access::Install],
        "/v1/installs/{id}/uninstall" => [POST uninstall::uninstall => Access::Install],
        "/v1/installs/{id}/registry-login" => [POST crate::registry_login::issue => Access::Install],
        "/v1/installs/{id}/registry-token" => [POST crate::registry_renewal::renew => Access::Install],
        "/v1/installs/{id}/audit-checkpoint" => [POST crate::audit_witness::witness => Access::Install],
        "/v1/fleet/summary" => [GET fleet::summary => vendor(ReadFleet)],
        "/v1/audit" => [GET audit::list => vendor(ReadFleet)],
        "/v1/audit/checkpoint" => [
            GET audit::checkpoint => vendor(ReadFleet),
            POST audit::sign_checkpoint => vendor(Owner),
        ],
        "/v1/registry/token" => [GET crate::registry::token_endpoint => Access::Own],
        "/v1/users" => [POST users::create => vendor(Owner), GET users::list => vendor(Owner)],
        "/v1/users/{name}/revoke" => [POST users::revoke => vendor(Owner)],
        "/v1/tokens" => [POST tokens::create => vendor(Owner), GET tokens::list => vendor(Owner)],
        "/v1/tokens/{id}/revoke" => [POST tokens::revoke => vendor(Owner)],
        "/v1/tokens/{id}/rotate" => [POST tokens::rotate => vendor(Owner)],
    }
}

/// Routes whose bodies may be larger than [`MAX_BODY_BYTES`], with their rules.
fn large_bodies() -> (RuleRoutes, RuleRoutes) {
    let artifacts = route_table! {
        // A host's self-update downloads with its signature, a vendor with a token.
        "/v1/artifacts/{digest}" => [PUT artifacts::upload => UPLOAD, GET artifacts::download => Access::Own],
    };
    // Capped by the handler at the configured `max_support_bundle_bytes`, with a 413
    // that says so.
    let bundles = route_table! {
        "/v1/installs/{id}/support-bundles" => [
            POST support_bundles::upload => Access::Install,
            GET support_bundles::list => vendor(ReadFleet),
        ],
        "/v1/installs/{id}/support-bundles/{n}" => [GET support_bundles::download => vendor(ReadFleet)],
    };
    (artifacts, bundles)
}

/// Every route's access rule, as the router registers them (the role table test
/// reads it, so a new route is tested the moment it is added).
pub fn route_rules() -> Vec<RouteRule> {
    let (_, mut rules) = api();
    let ((_, artifacts), (_, bundles)) = large_bodies();
    let (_, dashboard) = crate::dashboard::router();
    rules.extend(artifacts.into_iter().chain(bundles).chain(dashboard));
    rules
}

/// Every route of the control plane, each checked against its access rule.
pub fn router(state: AppState) -> Router {
    let (api, mut rules) = api();
    let ((artifacts, artifact_rules), (bundles, bundle_rules)) = large_bodies();
    let (dashboard, dashboard_rules) = crate::dashboard::router();
    rules.extend(
        artifact_rules
            .into_iter()
            .chain(bundle_rules)
            .chain(dashboard_rules),
    );
    let book = RuleBook::new(&rules);
    api.merge(dashboard)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // Merged after the layer above so only this route takes bodies up to an
        // artifact's size.
        .merge(artifacts.layer(RequestBodyLimitLayer::new(MAX_ARTIFACT_BYTES as usize)))
        .merge(bundles)
        .layer(crate::access::EnforceLayer::new(state.clone(), book))
        .with_state(state)
}
