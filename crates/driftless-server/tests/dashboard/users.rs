//! Logging in to the dashboard as a user (name and argon2-hashed password): a wrong
//! password is refused like a wrong token, a revoked user cannot log in and loses their
//! session, and a rollout action needs a role that may roll out (its audit entry names
//! the user).

use reqwest::header::{COOKIE, LOCATION};
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::plane::{Plane, APP, CHANNEL, TOKEN};
use crate::session::{csrf_in, get, login_form, set_cookies, Session};

const PASSWORD: &str = "a long enough password";

async fn submit(p: &Plane, user: &str, password: &str) -> Response {
    let (cookie, csrf) = login_form(p).await;
    p.http
        .post(format!("{}/dashboard/login", p.url))
        .header(COOKIE, cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("user", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

async fn log_in_as(p: &Plane, user: &str) -> Session {
    let answer = submit(p, user, PASSWORD).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{user} logs in");
    assert_eq!(answer.headers()[LOCATION], "/dashboard");
    let session = set_cookies(&answer)
        .into_iter()
        .find(|c| c.starts_with("driftless_dashboard="))
        .expect("a session cookie");
    let cookie = session.split(';').next().unwrap().to_string();
    let page = get(p, "/dashboard/rollouts", Some(&cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = csrf_in(&page.text().await.unwrap());
    Session { cookie, csrf }
}

async fn pause(p: &Plane, s: &Session) -> Response {
    p.http
        .post(format!(
            "{}/dashboard/rollouts/{APP}/{CHANNEL}/pause",
            p.url
        ))
        .header(COOKIE, &s.cookie)
        .form(&[("csrf", s.csrf.as_str())])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn users_log_in_with_their_password_and_act_only_as_their_role_allows() {
    let p = Plane::start().await;
    p.fleet_of_one_app().await;
    p.start_rollout().await;
    for (name, role) in [("rita", "release-manager"), ("sam", "support")] {
        let body = json!({"name": name, "role": role, "password": PASSWORD});
        p.api("/v1/users", body).await;
    }
    let short = json!({"name": "tim", "role": "support", "password": "short"});
    let refused = p
        .http
        .post(format!("{}/v1/users", p.url))
        .bearer_auth(TOKEN)
        .json(&short);
    assert_eq!(
        refused.send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    let wrong = submit(&p, "rita", "not the password at all").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let unknown = submit(&p, "nobody", PASSWORD).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);

    // Support sees the rollouts but may not pause one.
    let sam = log_in_as(&p, "sam").await;
    assert_eq!(pause(&p, &sam).await.status(), StatusCode::FORBIDDEN);
    let rita = log_in_as(&p, "rita").await;
    assert_eq!(pause(&p, &rita).await.status(), StatusCode::SEE_OTHER);
    let audit = p
        .http
        .get(format!("{}/v1/audit", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let entries: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let paused = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["action"] == "rollout.pause")
        .expect("the pause is audited");
    assert_eq!(paused["event"]["actor"], "user:rita");

    // Revoked: the session ends and the password no longer logs in.
    p.api("/v1/users/rita/revoke", json!({})).await;
    let page = get(&p, "/dashboard/rollouts", Some(&rita.cookie)).await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        submit(&p, "rita", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
