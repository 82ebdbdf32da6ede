//! The dashboard over plain HTTP: what a request without a session, without its CSRF
//! token or with a wrong operator token gets, and that every page answers.

use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;

use crate::plane::{Plane, APP, CHANNEL, TOKEN};
use crate::session::{get, log_in, login_form, set_cookies, submit_login};

const PAGES: [&str; 5] = [
    "/dashboard",
    "/dashboard/rollouts",
    "/dashboard/releases",
    "/dashboard/audit",
    "/dashboard/installs/i-unknown",
];

async fn rollout_state(p: &Plane) -> String {
    let answer = p
        .http
        .get(format!("{}/v1/apps/{APP}/rollouts", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let listed: Value = answer.json().await.unwrap();
    listed[0]["state"].as_str().unwrap().to_string()
}

/// A control plane with a running rollout, and its license key.
async fn with_rollout() -> (Plane, String) {
    let p = Plane::start().await;
    let license = p.fleet_of_one_app().await;
    p.start_rollout().await;
    (p, license)
}

fn action(p: &Plane, action: &str) -> String {
    format!("{}/dashboard/rollouts/{APP}/{CHANNEL}/{action}", p.url)
}

#[tokio::test]
async fn every_page_without_a_session_sends_to_the_login_and_an_action_does_nothing() {
    let (p, _) = with_rollout().await;
    for cookie in [None, Some("driftless_dashboard=forged")] {
        for path in PAGES {
            let answer = get(&p, path, cookie).await;
            assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{path}");
            assert_eq!(answer.headers()[LOCATION], "/dashboard/login", "{path}");
        }
    }
    let answer = p
        .http
        .post(action(&p, "abort"))
        .form(&[("csrf", "anything")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(rollout_state(&p).await, "running");
}

#[tokio::test]
async fn a_post_without_its_csrf_token_is_403_and_changes_nothing() {
    let (p, _) = with_rollout().await;
    let s = log_in(&p).await;
    for form in [vec![], vec![("csrf", "not-the-token")]] {
        let answer = p
            .http
            .post(action(&p, "pause"))
            .header(COOKIE, &s.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{form:?}");
        assert!(answer.text().await.unwrap().contains("nothing was changed"));
        assert_eq!(rollout_state(&p).await, "running", "{form:?}");
    }
    let logout = format!("{}/dashboard/logout", p.url);
    let answer = p
        .http
        .post(&logout)
        .header(COOKIE, &s.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::FORBIDDEN,
        "logout needs the token too"
    );

    let paused = p
        .http
        .post(action(&p, "pause"))
        .header(COOKIE, &s.cookie)
        .form(&[("csrf", s.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), StatusCode::SEE_OTHER);
    assert_eq!(rollout_state(&p).await, "paused");

    let out = p
        .http
        .post(&logout)
        .header(COOKIE, &s.cookie)
        .form(&[("csrf", s.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = get(&p, "/dashboard", Some(&s.cookie)).await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "the session ended");
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_strict_and_expires() {
    let p = Plane::start().await;
    let (cookie, csrf) = login_form(&p).await;
    let answer = submit_login(&p, &cookie, &csrf, TOKEN).await;
    let session = set_cookies(&answer)
        .into_iter()
        .find(|c| c.starts_with("driftless_dashboard="))
        .unwrap();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=28800",
        "Path=/dashboard",
    ] {
        assert!(session.contains(attribute), "{session}");
    }
    let id = session.split(';').next().unwrap();
    assert!(id.len() > "driftless_dashboard=".len() + 20, "{id}");
}

#[tokio::test]
async fn a_login_without_the_forms_token_is_403_and_wrong_tokens_are_throttled() {
    let p = Plane::start().await;
    let (cookie, csrf) = login_form(&p).await;
    // A form the dashboard did not hand out: its token is not the login cookie's.
    for (c, t) in [(cookie.as_str(), "forged"), ("other=1", csrf.as_str())] {
        let forged = submit_login(&p, c, t, TOKEN).await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{c} {t}");
        assert!(set_cookies(&forged).is_empty(), "{c} {t}");
    }
    for _ in 0..5 {
        let wrong = submit_login(&p, &cookie, &csrf, "dlop_wrong").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert!(set_cookies(&wrong)
            .iter()
            .all(|c| !c.starts_with("driftless_dashboard=")));
    }
    let throttled = submit_login(&p, &cookie, &csrf, TOKEN).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key(RETRY_AFTER));
    assert!(set_cookies(&throttled)
        .iter()
        .all(|c| !c.starts_with("driftless_dashboard=")));
}

#[tokio::test]
async fn every_page_answers_with_a_session() {
    let (p, license) = with_rollout().await;
    let host = p.register(&license, "host-a").await;
    p.check_in(&host, "1.0.0", "converged", None).await;
    let s = log_in(&p).await;
    let install = format!("/dashboard/installs/{}", host.id);
    let confirm = format!("/dashboard/rollouts/{APP}/{CHANNEL}/abort");
    for path in [
        "/dashboard",
        "/dashboard/rollouts",
        "/dashboard/releases",
        "/dashboard/audit?action=rollout",
        install.as_str(),
        confirm.as_str(),
        "/dashboard/static/dashboard.css",
    ] {
        let answer = get(&p, path, Some(&s.cookie)).await;
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
    }
    let unknown = get(&p, "/dashboard/installs/i-unknown", Some(&s.cookie)).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(unknown.text().await.unwrap().contains("i-unknown"));
}
