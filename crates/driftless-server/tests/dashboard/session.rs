//! Logging in over plain HTTP, as a browser would: the login form's CSRF cookie and
//! token, then the session cookie.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};

use crate::plane::{Plane, TOKEN};

/// A logged-in session: its cookie header and CSRF token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// The `name=value` pairs a response sets.
pub fn set_cookies(r: &Response) -> Vec<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// The value of the hidden `csrf` field in `html`.
pub fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

/// Opens the login form: its CSRF cookie (as a `Cookie` header) and token.
pub async fn login_form(p: &Plane) -> (String, String) {
    let form = p
        .http
        .get(format!("{}/dashboard/login", p.url))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let cookie = pair(&set_cookies(&form)[0]);
    let html = form.text().await.unwrap();
    (cookie, csrf_in(&html))
}

/// Submits the login form with `token`.
pub async fn submit_login(p: &Plane, cookie: &str, csrf: &str, token: &str) -> Response {
    p.http
        .post(format!("{}/dashboard/login", p.url))
        .header(COOKIE, cookie)
        .form(&[("csrf", csrf), ("token", token)])
        .send()
        .await
        .unwrap()
}

/// Logs in with the operator token.
pub async fn log_in(p: &Plane) -> Session {
    let (cookie, csrf) = login_form(p).await;
    let answer = submit_login(p, &cookie, &csrf, TOKEN).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()[LOCATION], "/dashboard");
    let session = set_cookies(&answer)
        .into_iter()
        .find(|c| c.starts_with("driftless_dashboard="))
        .expect("a session cookie");
    let cookie = pair(&session);
    let page = get(p, "/dashboard", Some(&cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = csrf_in(&page.text().await.unwrap());
    Session { cookie, csrf }
}

/// `GET path` with `cookie`, if any.
pub async fn get(p: &Plane, path: &str, cookie: Option<&str>) -> Response {
    let mut req = p.http.get(format!("{}{path}", p.url));
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    req.send().await.unwrap()
}
