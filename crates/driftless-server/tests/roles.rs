//! Who may call which route, against a real server: a table of (route, role) →
//! allowed or refused that must name every route the router registers (a new route
//! without a row here fails `every_route_has_a_row_and_every_row_a_route`), then each
//! vendor route called with each role's token; plus app scopes, revocation seen by
//! another replica within the cache's lifetime, and the audit actor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_server::{route_rules, serve, Access, AppState, Role, PRINCIPAL_CACHE_TTL};
use driftless_store::Store;
use driftless_store_sqlite::SqliteStore;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::OPERATOR_TOKEN;

const O: &str = "owner";
const RM: &str = "release-manager";
const S: &str = "support";
const CI: &str = "ci-publisher";

/// Who may call each route: role names, or `install`, `own` (the handler checks its
/// own credential) or `public`. Written by hand from the README's role table.
const EXPECTED: &[(&str, &str, &[&str])] = &[
    ("GET", "/healthz", &["public"]),
    ("GET", "/metrics", &["own"]),
    ("GET", "/v1/info", &["public"]),
    ("GET", "/v1/trust/root/{version}", &["public"]),
    ("POST", "/v1/apps", &[O]),
    ("GET", "/v1/apps", &[O, RM, S]),
    ("POST", "/v1/apps/{app}/channels", &[O, RM]),
    (
        "POST",
        "/v1/apps/{app}/channels/{channel}/promote",
        &[O, RM],
    ),
    ("POST", "/v1/apps/{app}/releases", &[O, RM, CI]),
    ("GET", "/v1/apps/{app}/releases", &[O, RM, CI]),
    ("GET", "/v1/apps/{app}/releases/{version}", &[O, RM, S]),
    ("POST", "/v1/apps/{app}/releases/{version}/state", &[O, RM]),
    (
        "GET",
        "/v1/apps/{app}/releases/{version}/sboms/{service}",
        &[O, RM, S],
    ),
    (
        "GET",
        "/v1/apps/{app}/channels/{channel}/policy",
        &[O, RM, S],
    ),
    ("PUT", "/v1/apps/{app}/channels/{channel}/policy", &[O, RM]),
    ("GET", "/v1/exposure/{advisory}", &[O, S]),
    ("POST", "/v1/apps/{app}/push-token", &[O, RM, CI]),
    ("GET", "/v1/apps/{app}/rollouts", &[O, RM, S]),
    ("POST", "/v1/apps/{app}/webhooks", &[O]),
    ("GET", "/v1/apps/{app}/webhooks", &[O]),
    ("DELETE", "/v1/apps/{app}/webhooks/{id}", &[O]),
    ("GET", "/v1/apps/{app}/webhook-deliveries", &[O]),
    (
        "POST",
        "/v1/apps/{app}/channels/{channel}/rollouts",
        &[O, RM],
    ),
    (
        "POST",
        "/v1/apps/{app}/channels/{channel}/rollout/{action}",
        &[O, RM],
    ),
    ("POST", "/v1/customers", &[O]),
    ("GET", "/v1/customers", &[O, S]),
    ("POST", "/v1/licenses", &[O]),
    ("GET", "/v1/licenses", &[O, S]),
    ("GET", "/v1/licenses/{id}", &[O, S]),
    ("POST", "/v1/licenses/{id}/terms", &[O]),
    ("POST", "/v1/licenses/{id}/revoke", &[O]),
    ("POST", "/v1/licenses/{id}/bundle-assignment", &[O]),
    ("POST", "/v1/receipts", &[O]),
    ("POST", "/v1/installs", &["install"]),
    ("GET", "/v1/installs", &[O, S]),
    ("POST", "/v1/installs/{id}/revoke", &[O, S]),
    ("POST", "/v1/installs/{id}/move", &[O, RM]),
    ("POST", "/v1/installs/{id}/checkin", &["install"]),
    ("POST", "/v1/installs/{id}/session", &["install"]),
    ("POST", "/v1/installs/{id}/uninstall", &["install"]),
    ("POST", "/v1/installs/{id}/registry-login", &["install"]),
    ("POST", "/v1/installs/{id}/registry-token", &["install"]),
    ("POST", "/v1/installs/{id}/audit-checkpoint", &["install"]),
    ("GET", "/v1/fleet/summary", &[O, S]),
    ("GET", "/v1/audit", &[O, S]),
    ("GET", "/v1/audit/checkpoint", &[O, S]),
    ("POST", "/v1/audit/checkpoint", &[O]),
    ("GET", "/v1/registry/token", &["own"]),
    ("POST", "/v1/users", &[O]),
    ("GET", "/v1/users", &[O]),
    ("POST", "/v1/users/{name}/revoke", &[O]),
    ("POST", "/v1/tokens", &[O]),
    ("GET", "/v1/tokens", &[O]),
    ("POST", "/v1/tokens/{id}/revoke", &[O]),
    ("POST", "/v1/tokens/{id}/rotate", &[O]),
    ("PUT", "/v1/artifacts/{digest}", &[O, RM, CI]),
    ("GET", "/v1/artifacts/{digest}", &["own"]),
    ("POST", "/v1/installs/{id}/support-bundles", &["install"]),
    ("GET", "/v1/installs/{id}/support-bundles", &[O, S]),
    ("GET", "/v1/installs/{id}/support-bundles/{n}", &[O, S]),
    ("GET", "/", &["public"]),
    ("GET", "/dashboard", &["own"]),
    ("GET", "/dashboard/login", &["public"]),
    ("POST", "/dashboard/login", &["public"]),
    ("POST", "/dashboard/logout", &["own"]),
    ("GET", "/dashboard/rollouts", &["own"]),
    (
        "GET",
        "/dashboard/rollouts/{app}/{channel}/{action}",
        &["own"],
    ),
    (
        "POST",
        "/dashboard/rollouts/{app}/{channel}/{action}",
        &["own"],
    ),
    ("GET", "/dashboard/installs/{id}", &["own"]),
    ("GET", "/dashboard/releases", &["own"]),
    ("GET", "/dashboard/audit", &["own"]),
    ("GET", "/dashboard/static/dashboard.css", &["public"]),
];

/// What the router's rule says, in the table's words.
fn described(access: Access) -> BTreeSet<String> {
    match access {
        Access::Vendor { need, .. } => need.roles().iter().map(|r| r.name().into()).collect(),
        Access::Install => ["install".into()].into(),
        Access::Own => ["own".into()].into(),
        Access::Public => ["public".into()].into(),
    }
}

#[test]
fn every_route_has_a_row_and_every_row_a_route() {
    let rules = route_rules();
    let registered: BTreeSet<(String, &str)> = rules
        .iter()
        .map(|r| (r.method.to_string(), r.path))
        .collect();
    let tabled: BTreeSet<(String, &str)> = EXPECTED
        .iter()
        .map(|(m, p, _)| (m.to_string(), *p))
        .collect();
    let untested: Vec<_> = registered.difference(&tabled).collect();
    let gone: Vec<_> = tabled.difference(&registered).collect();
    assert!(
        untested.is_empty(),
        "routes without a row in EXPECTED: {untested:?}"
    );
    assert!(
        gone.is_empty(),
        "rows for routes the router lacks: {gone:?}"
    );
    assert_eq!(rules.len(), EXPECTED.len(), "a route is registered twice");
    for rule in &rules {
        let (_, _, who) = EXPECTED
            .iter()
            .find(|(m, p, _)| *m == rule.method.as_str() && *p == rule.path)
            .unwrap();
        let who: BTreeSet<String> = who.iter().map(|w| w.to_string()).collect();
        assert_eq!(described(rule.access), who, "{} {}", rule.method, rule.path);
    }
}

/// A running control plane over a SQLite file, and a client.
struct Plane {
    url: String,
    http: reqwest::Client,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

async fn plane() -> Plane {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("cp.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).await.unwrap());
    let (url, _state) = start(store.clone()).await;
    Plane {
        url,
        http: reqwest::Client::new(),
        store,
        _dir: dir,
    }
}

/// Serves a replica over `store`; its URL and state.
async fn start(store: Arc<dyn Store>) -> (String, AppState) {
    let state = support::state(store, 0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, state.clone(), std::future::pending()));
    (url, state)
}

impl Plane {
    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn owner(&self, method: &str, path: &str, body: Value) -> Value {
        let body = (!body.is_null()).then_some(body);
        let (status, answer) = self.call(OPERATOR_TOKEN, method, path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        answer
    }

    /// Makes user `name` with `role` (scoped to `app`); their API token.
    async fn user(&self, name: &str, role: &str, app: Option<&str>) -> String {
        let body = json!({"name": name, "role": role, "app": app});
        let answer = self.owner("POST", "/v1/users", body).await;
        answer["token"].as_str().unwrap().to_string()
    }
}

/// A concrete path for a pattern: `{app}` is `app`, every other parameter `x` (the
/// digest a well-formed one, so an upload reaches its handler).
fn concrete(pattern: &str, app: &str) -> String {
    pattern
        .replace("{app}", app)
        .replace("{digest}", &format!("sha256:{}", "a".repeat(64)))
        .replace("{n}", "1")
        .split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_vendor_route_admits_exactly_the_roles_its_row_names() {
    let p = plane().await;
    p.owner("POST", "/v1/apps", json!({"name": "acme"})).await;
    let tokens = [
        (Role::Owner, p.user("olga", O, None).await),
        (Role::ReleaseManager, p.user("rita", RM, None).await),
        (Role::Support, p.user("sam", S, None).await),
        (Role::CiPublisher, p.user("cid", CI, Some("acme")).await),
    ];
    let mut checked = 0;
    for rule in route_rules() {
        if !matches!(rule.access, Access::Vendor { .. }) {
            continue;
        }
        // The table's answer, not the rule's: the server is held to the table.
        let (_, _, allowed) = EXPECTED
            .iter()
            .find(|(m, p, _)| *m == rule.method.as_str() && *p == rule.path)
            .expect("every_route_has_a_row_and_every_row_a_route checks each has one");
        let path = concrete(rule.path, "acme");
        let body = (rule.method != Method::GET).then(|| json!({}));
        for (role, token) in &tokens {
            let (status, answer) = p
                .call(token, rule.method.as_str(), &path, body.clone())
                .await;
            let what = format!(
                "{} {} as {}: {status} {answer}",
                rule.method,
                rule.path,
                role.name()
            );
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{what}");
            if allowed.contains(&role.name()) {
                assert_ne!(status, StatusCode::FORBIDDEN, "{what}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                assert_eq!(answer["code"], "role_not_allowed", "{what}");
                let message = answer["message"].as_str().unwrap();
                assert!(message.contains(role.name()), "{what}");
            }
            checked += 1;
        }
        // Without a token, every vendor route is 401.
        let (status, _) = p.call("", rule.method.as_str(), &path, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{} {}",
            rule.method,
            rule.path
        );
    }
    assert!(checked >= 4 * 45, "only {checked} calls were checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_principal_reaches_its_app_only() {
    let p = plane().await;
    for app in ["acme", "other"] {
        p.owner("POST", "/v1/apps", json!({"name": app})).await;
    }
    let rm = p.user("rita", RM, Some("acme")).await;
    let ci = p.owner("POST", "/v1/tokens", json!({"app": "acme"})).await;
    let ci = ci["token"].as_str().unwrap().to_string();
    for (token, route) in [
        (&rm, "/v1/apps/{app}/channels"),
        (&ci, "/v1/apps/{app}/push-token"),
    ] {
        let (status, answer) = p
            .call(token, "POST", &concrete(route, "other"), Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
        assert_eq!(answer["code"], "app_out_of_scope");
        assert!(
            answer["message"].as_str().unwrap().contains("`other`"),
            "{answer}"
        );
        let (status, answer) = p
            .call(token, "POST", &concrete(route, "acme"), Some(json!({})))
            .await;
        assert_ne!(status, StatusCode::FORBIDDEN, "{answer}");
    }
    // A route about no one app is out of a scoped principal's reach...
    let (status, answer) = p
        .call(&rm, "POST", "/v1/installs/x/move", Some(json!({})))
        .await;
    assert_eq!(
        (status, answer["code"].clone()),
        (StatusCode::FORBIDDEN, json!("app_out_of_scope"))
    );
    // ...except a content-addressed upload, which is about no app at all.
    let digest = format!("/v1/artifacts/sha256:{}", "b".repeat(64));
    let (status, answer) = p.call(&ci, "PUT", &digest, Some(json!({}))).await;
    assert_ne!(status, StatusCode::FORBIDDEN, "{answer}");
    // An owner cannot be scoped, a CI publisher must be.
    for body in [
        json!({"name": "x", "role": O, "app": "acme"}),
        json!({"name": "y", "role": CI}),
        json!({"name": "owner", "role": S}),
    ] {
        let (status, answer) = p
            .call(OPERATOR_TOKEN, "POST", "/v1/users", Some(body))
            .await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::CONFLICT,
            "{answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused_at_once_here_and_within_the_cache_lifetime_elsewhere() {
    let p = plane().await;
    let (other_url, _other) = start(p.store.clone()).await;
    let sam = p.user("sam", S, None).await;
    let audit_status = |url: String| {
        let http = p.http.clone();
        let sam = sam.clone();
        async move {
            let resp = http.get(format!("{url}/v1/audit")).bearer_auth(&sam).send();
            resp.await.unwrap().status()
        }
    };
    // Both replicas accept it, and cache what they looked up.
    assert_eq!(audit_status(p.url.clone()).await, StatusCode::OK);
    assert_eq!(audit_status(other_url.clone()).await, StatusCode::OK);
    p.owner("POST", "/v1/users/sam/revoke", json!({})).await;
    let revoked = Instant::now();
    assert_eq!(audit_status(p.url.clone()).await, StatusCode::UNAUTHORIZED);
    loop {
        if audit_status(other_url.clone()).await == StatusCode::UNAUTHORIZED {
            break;
        }
        let waited = revoked.elapsed();
        assert!(
            waited < PRINCIPAL_CACHE_TTL + Duration::from_secs(2),
            "the other replica still accepts a token revoked {waited:?} ago"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The revoked user's tokens are listed as revoked, and none can be made for them.
    let tokens = p.owner("GET", "/v1/tokens", json!(null)).await;
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .all(|t| !t["revoked_at"].is_null()),
        "{tokens}"
    );
    let (status, answer) = p
        .call(
            OPERATOR_TOKEN,
            "POST",
            "/v1/tokens",
            Some(json!({"user": "sam"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_replaces_the_old_one() {
    let p = plane().await;
    p.owner("POST", "/v1/apps", json!({"name": "acme"})).await;
    let old = p
        .owner(
            "POST",
            "/v1/tokens",
            json!({"app": "acme", "expires_in_s": 3600}),
        )
        .await;
    let id = old["id"].as_str().unwrap();
    let new = p
        .owner("POST", &format!("/v1/tokens/{id}/rotate"), json!({}))
        .await;
    assert_eq!(
        (new["role"].clone(), new["app"].clone()),
        (json!(CI), json!("acme"))
    );
    assert_eq!(
        new["expires_at"].as_i64().unwrap() - new["created_at"].as_i64().unwrap(),
        3600
    );
    let releases = "/v1/apps/acme/releases";
    let (status, _) = p
        .call(old["token"].as_str().unwrap(), "GET", releases, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = p
        .call(new["token"].as_str().unwrap(), "GET", releases, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_names_the_principal_and_never_a_secret() {
    let p = plane().await;
    p.owner("POST", "/v1/apps", json!({"name": "acme"})).await;
    let rita = p.user("rita", RM, Some("acme")).await;
    let ci = p.owner("POST", "/v1/tokens", json!({"app": "acme"})).await;
    let ci_token = ci["token"].as_str().unwrap();
    let (status, answer) = p
        .call(
            &rita,
            "POST",
            "/v1/apps/acme/channels",
            Some(json!({"name": "beta"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, answer) = p
        .call(
            ci_token,
            "POST",
            "/v1/apps/acme/push-token",
            Some(json!({"release_counter": 1, "repositories": ["acme/r1/web"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let audit = p.owner("GET", "/v1/audit?limit=100", json!(null)).await;
    let actor_of = |action: &str| {
        audit
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"]["action"] == action)
            .map(|e| e["event"]["actor"].as_str().unwrap().to_string())
    };
    assert_eq!(actor_of("app.create").as_deref(), Some("user:owner"));
    assert_eq!(actor_of("channel.create").as_deref(), Some("user:rita"));
    let ci_actor = format!("token:{}", ci["id"].as_str().unwrap());
    assert_eq!(actor_of("registry.push_token"), Some(ci_actor));
    let listed = format!("{audit}{}", p.owner("GET", "/v1/tokens", json!(null)).await);
    for secret in [rita.as_str(), ci_token] {
        assert!(
            !listed.contains(secret),
            "a token's secret is in the audit log or the token list"
        );
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(secret.as_bytes()));
        assert!(
            !listed.contains(&hash),
            "a token's hash is in the audit log or the token list"
        );
    }
}
