//! Every change the vendor API makes and its audit entry are one transaction: a real
//! control plane on an SQLite file whose `audit_log` is made to refuse inserts (a
//! trigger) answers 5xx and keeps no change; without the trigger each call adds exactly
//! one entry, whose actor is the caller and whose request id is the call's.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use driftless_server::serve;
use driftless_store::{AuditEntry, Install, License, Store};
use driftless_store_sqlite::SqliteStore;
use driftless_wire::trace_context::REQUEST_ID_HEADER;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection as _;
use support::{now, OPERATOR_TOKEN};

struct Plane {
    url: String,
    db: String,
    http: reqwest::Client,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

/// A control plane on a fresh SQLite file, with a license `lic-1` of `acme/stable` for
/// customer `cust` and its install `ins-1`, stored directly (not through the API).
async fn plane() -> Plane {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("cp.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).await.unwrap());
    seed(&*store).await;
    let state = support::state(store.clone(), 0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, state, std::future::pending()));
    Plane {
        url,
        db,
        http: reqwest::Client::new(),
        store,
        _dir: dir,
    }
}

async fn seed(store: &dyn Store) {
    let t = now();
    store.create_app("acme", t).await.unwrap();
    store.create_channel("acme", "stable", t).await.unwrap();
    store.create_customer("cust", t).await.unwrap();
    let license = License {
        id: "lic-1".into(),
        customer: "cust".into(),
        app: "acme".into(),
        channel: "stable".into(),
        key_hash: "ab".repeat(32),
        revoked: false,
        created_at: t,
    };
    store.create_license(&license).await.unwrap();
    let install = Install {
        id: "ins-1".into(),
        license_id: "lic-1".into(),
        customer: "cust".into(),
        app: "acme".into(),
        channel: "stable".into(),
        public_key: "cd".repeat(32),
        hostname: "host".into(),
        platform: "linux/amd64".into(),
        revoked: false,
        created_at: t,
        uninstalled_at: None,
    };
    store.create_install(&install).await.unwrap();
}

impl Plane {
    /// Calls the API with `token`; the status, the answer and the request id it carried.
    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, String) {
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
        let request_id = resp.headers()[REQUEST_ID_HEADER]
            .to_str()
            .unwrap()
            .to_string();
        let text = resp.text().await.unwrap();
        let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, answer, request_id)
    }

    /// Makes owner `ann` (through the API); her token.
    async fn ann(&self) -> String {
        let body = json!({"name": "ann", "role": "owner"});
        let (status, answer, _) = self
            .call(OPERATOR_TOKEN, "POST", "/v1/users", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        answer["token"].as_str().unwrap().to_string()
    }

    /// Runs `sql` on the database file through a connection of its own.
    async fn sql(&self, sql: &str) {
        let mut conn = sqlx::SqliteConnection::connect(&self.db).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }

    async fn refuse_audit_inserts(&self) {
        self.sql(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log
             BEGIN SELECT RAISE(ABORT, 'audit log refuses inserts'); END",
        )
        .await;
    }

    async fn accept_audit_inserts(&self) {
        self.sql("DROP TRIGGER refuse_audit").await;
    }

    async fn log(&self) -> Vec<AuditEntry> {
        self.store.list_audit(1000).await.unwrap()
    }
}

/// The calls under test: create an app, create a customer, revoke an install.
fn calls() -> [(&'static str, String, Option<Value>, &'static str); 3] {
    [
        (
            "POST",
            "/v1/apps".into(),
            Some(json!({"name": "beta"})),
            "app.create",
        ),
        (
            "POST",
            "/v1/customers".into(),
            Some(json!({"name": "newco"})),
            "customer.create",
        ),
        (
            "POST",
            "/v1/installs/ins-1/revoke".into(),
            None,
            "install.revoke",
        ),
    ]
}

/// What the calls change, as a person would look: is app `beta`, customer `newco`
/// there, and is `ins-1` revoked.
async fn changed(p: &Plane) -> (bool, bool, bool) {
    (
        p.store.get_app("beta").await.unwrap().is_some(),
        p.store.get_customer("newco").await.unwrap().is_some(),
        p.store.get_install("ins-1").await.unwrap().unwrap().revoked,
    )
}

#[tokio::test]
async fn a_change_whose_audit_entry_fails_is_not_kept() {
    let p = plane().await;
    let ann = p.ann().await;
    let before = p.log().await;
    p.refuse_audit_inserts().await;
    for (method, path, body, action) in calls() {
        let (status, answer, _) = p.call(&ann, method, &path, body).await;
        assert!(
            status.is_server_error(),
            "{action} answered {status} {answer} although its entry could not be written"
        );
    }
    p.accept_audit_inserts().await;
    assert_eq!(changed(&p).await, (false, false, false));
    assert_eq!(p.log().await, before);
}

#[tokio::test]
async fn each_change_adds_one_entry_of_its_principal_and_request() {
    let p = plane().await;
    let ann = p.ann().await;
    for (method, path, body, action) in calls() {
        let before = p.log().await.len();
        let (status, answer, request_id) = p.call(&ann, method, &path, body).await;
        assert!(status.is_success(), "{action}: {status} {answer}");
        let log = p.log().await;
        assert_eq!(log.len(), before + 1, "{action} adds exactly one entry");
        let entry = &log[0].event;
        assert_eq!(entry.action, action);
        assert_eq!(entry.actor, "user:ann");
        assert_eq!(entry.request_id, request_id);
    }
    assert_eq!(changed(&p).await, (true, true, true));
}
