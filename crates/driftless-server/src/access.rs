//! Who may call which route. Every route the router registers carries an [`Access`]
//! rule (the route table in [`crate::routes`] pairs each handler with one), and
//! [`enforce`] checks it before the handler runs: a vendor route resolves the bearer
//! token's principal and checks its role and app scope. A route with no rule is
//! refused for everyone, so a route added without one cannot be open by mistake.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{FromRequestParts as _, MatchedPath, RawPathParams, Request};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::{is_operator_token, secret_hash};
use crate::error::ApiError;
use crate::principal::{Principal, Role};
use crate::state::AppState;

/// Registers each route with its handlers and records each handler's access rule, so
/// no route is registered without one: `"/path" => [GET handler => rule, ...]`.
macro_rules! route_table {
    ($($path:expr => [$($method:ident $handler:expr => $access:expr),+ $(,)?]),* $(,)?) => {{
        let mut rules: Vec<$crate::access::RouteRule> = Vec::new();
        let router: axum::Router<$crate::state::AppState> = axum::Router::new()
            $(.route($path, {
                let mut methods: axum::routing::MethodRouter<$crate::state::AppState> = axum::routing::MethodRouter::new();
                $(
                    methods = methods.on(axum::routing::MethodFilter::$method, $handler);
                    rules.push($crate::access::RouteRule { method: axum::http::Method::$method, path: $path, access: $access });
                )+
                methods
            }))*;
        (router, rules)
    }};
}

/// What a vendor route needs of its caller's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Need {
    /// Upload releases and what they carry (artifacts, images).
    Publish,
    /// Promote, run rollouts, set release states and channel policies, move installs.
    Release,
    /// Read apps, releases, policies and rollouts.
    ReadApp,
    /// Read the fleet, customers, licenses, installs and the audit log.
    ReadFleet,
    /// Revoke one install.
    RevokeInstall,
    /// Everything else: apps, customers, licenses, webhooks, users, tokens, checkpoints.
    Owner,
}

impl Need {
    /// The roles that may, most powerful first.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Need::Publish => &[Role::Owner, Role::ReleaseManager, Role::CiPublisher],
            Need::Release => &[Role::Owner, Role::ReleaseManager],
            Need::ReadApp => &[Role::Owner, Role::ReleaseManager, Role::Support],
            Need::ReadFleet | Need::RevokeInstall => &[Role::Owner, Role::Support],
            Need::Owner => &[Role::Owner],
        }
    }

    /// What it lets a caller do, for refusals.
    fn what(self) -> &'static str {
        match self {
            Need::Publish => "publish releases",
            Need::Release => "promote, roll out or change release states",
            Need::ReadApp => "read apps and releases",
            Need::ReadFleet => "read the fleet, customers and the audit log",
            Need::RevokeInstall => "revoke installs",
            Need::Owner => "change apps, customers, licenses, webhooks, users or tokens",
        }
    }
}

/// How a route authenticates its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// A vendor principal's bearer token, whose role allows `need`. A principal scoped
    /// to one app reaches only routes about that app (an `{app}` in the path), or
    /// routes marked `any_app` (content-addressed uploads).
    Vendor {
        /// The permission.
        need: Need,
        /// Whether an app-scoped principal may use it although it names no app.
        any_app: bool,
    },
    /// An install's signed request or session, checked by the handler.
    Install,
    /// Its own credential (dashboard session, scrape token, registry login, or either
    /// an install's signature or a vendor token), checked by the handler.
    Own,
    /// Anyone: health, the server's public information and trust root.
    Public,
}

/// A vendor route about one app (or none) that needs `need`.
pub const fn vendor(need: Need) -> Access {
    Access::Vendor {
        need,
        any_app: false,
    }
}

/// One route's rule: the method and path pattern as registered, and who may call it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteRule {
    /// The HTTP method.
    pub method: Method,
    /// The path pattern, e.g. `/v1/apps/{app}/releases`.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// The rules by (method, path pattern), as the middleware reads them.
#[derive(Clone, Default)]
pub struct RuleBook(Arc<HashMap<(Method, &'static str), Access>>);

impl RuleBook {
    /// The book of `rules`.
    pub fn new(rules: &[RouteRule]) -> Self {
        let map = rules
            .iter()
            .map(|r| ((r.method.clone(), r.path), r.access))
            .collect();
        RuleBook(Arc::new(map))
    }

    fn get(&self, method: &Method, path: &str) -> Option<Access> {
        // axum answers HEAD with a GET route.
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.0.get(&(method.clone(), path)).copied()
    }
}

tokio::task_local! {
    static ACTOR: String;
}

/// The audit actor of the request being handled: its principal (`user:…`,
/// `token:…`); `control-plane` outside a vendor request, so nothing the server does
/// by itself is put down to a person.
pub(crate) fn current_actor() -> String {
    ACTOR
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "control-plane".into())
}

/// The layer over every route that checks the matched route's rule before its handler
/// runs. It is a hand-written tower layer rather than `from_fn` middleware (see
/// [`crate::request_context`]): a route that is not a vendor route (a check-in, above
/// all) costs one map lookup and no allocation; only a vendor route's request is boxed,
/// for the principal's lookup.
#[derive(Clone)]
pub(crate) struct EnforceLayer {
    state: AppState,
    book: RuleBook,
}

impl EnforceLayer {
    /// Checks every request against `book`, resolving principals through `state`.
    pub(crate) fn new(state: AppState, book: RuleBook) -> Self {
        EnforceLayer { state, book }
    }
}

impl<S> tower::Layer<S> for EnforceLayer {
    type Service = Enforce<S>;

    fn layer(&self, inner: S) -> Enforce<S> {
        Enforce {
            inner,
            layer: self.clone(),
        }
    }
}

/// One route's service under [`EnforceLayer`].
#[derive(Clone)]
pub(crate) struct Enforce<S> {
    inner: S,
    layer: EnforceLayer,
}

/// A vendor route's answer: the principal's lookup, then the handler.
type Checked = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

pin_project_lite::pin_project! {
    /// What [`Enforce`] answers.
    #[project = EnforcedProj]
    pub(crate) enum Enforced<F> {
        /// A route whose handler checks its caller, or an unmatched one: as it is.
        Open { #[pin] future: F },
        /// A vendor route: checked first.
        Checked { future: Checked },
        /// Refused before anything ran.
        Refused { response: Option<Response> },
    }
}

impl<F> std::future::Future for Enforced<F>
where
    F: std::future::Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.project() {
            EnforcedProj::Open { future } => future.poll(cx),
            EnforcedProj::Checked { future } => future.as_mut().poll(cx).map(Ok),
            EnforcedProj::Refused { response } => std::task::Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response()))),
        }
    }
}

impl<S> tower::Service<Request> for Enforce<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Enforced<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Some(matched) = request.extensions().get::<MatchedPath>() else {
            // No route matched: the router's own 404/405 answers.
            return Enforced::Open {
                future: self.inner.call(request),
            };
        };
        let Some(access) = self.layer.book.get(request.method(), matched.as_str()) else {
            tracing::error!(path = matched.as_str(), method = %request.method(), "route has no access rule");
            let refusal = ApiError::forbidden(
                "no_access_rule",
                format!(
                    "{} {} has no access rule, so it is refused for everyone",
                    request.method(),
                    matched.as_str()
                ),
            )
            .with_hint("this is a bug in the control plane; report it");
            return Enforced::Refused {
                response: Some(refusal.into_response()),
            };
        };
        let Access::Vendor { need, any_app } = access else {
            if access == Access::Install {
                // Hosts back off when asked to: their requests are the ones shed while
                // the server runs late (see `crate::load_shed`).
                if let Some(shed) = self.layer.state.queue_delay.sheds() {
                    return Enforced::Refused {
                        response: Some(crate::load_shed::overloaded(shed)),
                    };
                }
            }
            return Enforced::Open {
                future: self.inner.call(request),
            };
        };
        // The service polled ready is the one called; a clone takes its place.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let state = self.layer.state.clone();
        Enforced::Checked {
            future: Box::pin(async move {
                let (mut parts, body) = request.into_parts();
                let principal = match authorize(&state, &mut parts, need, any_app).await {
                    Ok(p) => p,
                    Err(e) => return e.into_response(),
                };
                let actor = principal.actor.clone();
                parts.extensions.insert(principal);
                let answer = ACTOR
                    .scope(actor, inner.call(Request::from_parts(parts, body)))
                    .await;
                match answer {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            }),
        }
    }
}

async fn authorize(
    state: &AppState,
    parts: &mut axum::http::request::Parts,
    need: Need,
    any_app: bool,
) -> Result<Principal, ApiError> {
    let principal = principal(state, &parts.headers).await?;
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))?;
    let app = params.iter().find(|(k, _)| *k == "app").map(|(_, v)| v);
    if any_app && app.is_none() {
        // A content-addressed upload is about no app, so any scope may make it.
        check_role(&principal, need)?;
    } else {
        permit(&principal, need, app)?;
    }
    Ok(principal)
}

fn check_role(principal: &Principal, need: Need) -> Result<(), ApiError> {
    if need.roles().contains(&principal.role) {
        Ok(())
    } else {
        Err(role_refused(principal, need))
    }
}

/// Whether `principal` may do what `need` covers about `app` (`None`: about no one
/// app, which only a principal without an app scope may do).
pub(crate) fn permit(principal: &Principal, need: Need, app: Option<&str>) -> Result<(), ApiError> {
    check_role(principal, need)?;
    let Some(scope) = &principal.app else {
        return Ok(());
    };
    match app {
        Some(app) if app == scope => Ok(()),
        Some(app) => Err(ApiError::forbidden(
            "app_out_of_scope",
            format!(
                "{} may act on app `{scope}` only; this request is about app `{app}`",
                principal.actor
            ),
        )
        .with_hint(format!("use a token of a user or role scoped to `{app}`"))),
        None => Err(ApiError::forbidden(
            "app_out_of_scope",
            format!(
                "{} may act on app `{scope}` only; this request is not about one app",
                principal.actor
            ),
        )
        .with_hint("use the token of a user who is not limited to one app")),
    }
}

/// Runs `fut` with `actor` as the audit actor of what it records.
pub(crate) async fn as_actor<F: std::future::Future>(actor: String, fut: F) -> F::Output {
    ACTOR.scope(actor, fut).await
}

fn role_refused(principal: &Principal, need: Need) -> ApiError {
    let roles: Vec<&str> = need.roles().iter().map(|r| r.name()).collect();
    ApiError::forbidden(
        "role_not_allowed",
        format!(
            "{} has role `{}`, which may not {}; this needs role {}",
            principal.actor,
            principal.role.name(),
            need.what(),
            roles.join(" or ")
        ),
    )
    .with_hint("ask an owner for a user or token with that role")
}

/// The principal of `Authorization: Bearer <token>`.
pub(crate) async fn principal(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("missing vendor token")
                .with_hint("pass --token or set DRIFTLESS_TOKEN")
        })?;
    if is_operator_token(state, token) {
        return Ok(Principal::first_owner());
    }
    let found = state
        .principals
        .resolve(&*state.store, &secret_hash(token), crate::now())
        .await?;
    found.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "token is not valid for this control plane (unknown, expired or revoked)",
        )
        .with_hint("ask an owner for a new token (`driftless-vendor token create`)")
    })
}
