//! The dashboard in a real headless Chromium, driven through chromedriver: log in, see
//! a rollout halt after hosts fail, resume, pause and abort it (each confirmed), and
//! see the channel's installs move back. A screenshot of each page is kept under
//! `target/dashboard-screenshots/`; a page that shows an error or lacks an element
//! fails the test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use driftless_test_support::prereq::require;
use driftless_wire::release::Assignment;
use driftless_wire::{Envelope, ASSIGNMENT_PAYLOAD_TYPE};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::plane::{Plane, TOKEN};

/// How long chromedriver and a page get to answer.
const DEADLINE: Duration = Duration::from_secs(30);

/// chromedriver on a loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let hint = "install Debian's chromium and chromium-driver (scripts/prereqs does)";
        require("chromedriver", &["--version"], hint);
        require("chromium", &["--version"], hint);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let status = format!("{}/status", driver.url);
        let start = Instant::now();
        loop {
            let ready = match reqwest::get(&status).await {
                Ok(r) => r.json::<Value>().await.ok(),
                Err(_) => None,
            };
            if ready.is_some_and(|v| v["value"]["ready"] == true) {
                return driver;
            }
            assert!(start.elapsed() < DEADLINE, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1500"],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session from chromedriver")
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("dashboard-screenshots")
}

/// The browser on one control plane.
struct Tour {
    c: Client,
    base: String,
}

impl Tour {
    async fn open(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// The text of the element at `css`, waited for; fails the test if it never shows.
    async fn text(&self, css: &str) -> String {
        let el = self
            .c
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"));
        el.text().await.unwrap()
    }

    /// Clicks the element at `css` and waits until the page it leads to has replaced
    /// this one. Every click in the tour navigates, and the next page can have an
    /// element of the same name (`#audit` before and after filtering): read too soon,
    /// it is the old page's, stale by the time its text is asked for.
    async fn click(&self, css: &str) {
        let el = self
            .c
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` to click: {e}"));
        let page = self.c.find(Locator::Css("html")).await.unwrap();
        el.click().await.unwrap();
        let start = Instant::now();
        loop {
            // While the old document is torn down, chromedriver can answer with other
            // errors (its script context gone) before it answers "stale".
            let last = match page.tag_name().await {
                Err(e) if e.is_stale_element_reference() => return,
                Ok(_) => "still the old page".to_string(),
                Err(e) => e.to_string(),
            };
            assert!(
                start.elapsed() < DEADLINE,
                "clicking `{css}` led to no new page: {last}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Keeps a screenshot of the page as `name.png`, after checking it is no error page.
    async fn keep(&self, name: &str) {
        let errors = self.c.find_all(Locator::Css("#error")).await.unwrap();
        if let Some(e) = errors.first() {
            panic!("{name} is an error page: {}", e.text().await.unwrap());
        }
        let png = self.c.screenshot().await.unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Presses the rollout's `action` button and confirms it; returns the new state.
    async fn act(&self, action: &str) -> String {
        self.click(&format!("a.action-{action}")).await;
        self.text("#confirm").await;
        self.keep(&format!("confirm-{action}")).await;
        self.click("#confirm").await;
        self.text(".rollout-state").await
    }
}

fn assigned_version(answer: &Value) -> String {
    let env: Envelope = serde_json::from_value(answer["assignment"].clone()).unwrap();
    let a: Assignment = env.decode(ASSIGNMENT_PAYLOAD_TYPE, "assignment").unwrap();
    a.version.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_halts_is_aborted_in_the_browser_and_its_installs_move_back() {
    let driver = Driver::start().await;
    let p = Plane::start().await;
    let license = p.fleet_of_one_app().await;
    let mut hosts = Vec::new();
    for name in ["web-1", "web-2", "web-3", "web-4", "web-5"] {
        let host = p.register(&license, name).await;
        p.check_in(&host, "1.0.0", "converged", None).await;
        hosts.push(host);
    }
    p.state.aggregate_metrics().await.unwrap();
    p.start_rollout().await;
    let [on, f1, f2, drifted, ..] = &hosts[..] else {
        unreachable!()
    };
    p.check_in(drifted, "1.0.0", "drifted:web", None).await;
    p.check_in(drifted, "1.0.0", "converged", None).await;
    p.check_in(on, "2.0.0", "converged", None).await;
    for host in [f1, f2] {
        p.check_in(host, "1.0.0", "failed:health_failed", Some("2.0.0"))
            .await;
    }
    p.tick().await;
    p.state.aggregate_metrics().await.unwrap();

    let tour = Tour {
        c: driver.browser().await,
        base: p.url.clone(),
    };
    tour.open("/dashboard").await;
    tour.text("#login-form").await;
    tour.keep("login").await;
    let token = tour.c.find(Locator::Css("#token")).await.unwrap();
    token.send_keys(TOKEN).await.unwrap();
    tour.click("#login").await;
    tour.text("#adoption-chart").await;
    assert_eq!(tour.text(".channel-release").await, "1.0.0");
    assert!(tour.text("#channels").await.contains("halted 2.0.0"));
    tour.keep("fleet").await;

    tour.open("/dashboard/rollouts").await;
    assert_eq!(tour.text(".rollout-state").await, "halted");
    let reason = tour.text(".halt-reason").await;
    assert!(
        reason.contains("2 of 3 installs that tried 2.0.0 failed"),
        "{reason}"
    );
    let failing = tour.text(".failing-hosts").await;
    assert!(failing.contains("health_failed"), "{failing}");
    for host in [f1, f2] {
        assert!(failing.contains(&host.id), "{failing}");
    }
    tour.keep("rollouts").await;

    assert_eq!(tour.act("resume").await, "running");
    assert_eq!(tour.act("pause").await, "paused");
    assert_eq!(tour.act("abort").await, "aborted");
    tour.keep("rollouts-aborted").await;

    // The host that took 2.0.0 is handed 1.0.0 again at its next check-in.
    let answer = p.check_in(on, "2.0.0", "converged", None).await;
    assert_eq!(assigned_version(&answer), "1.0.0");
    tour.open("/dashboard").await;
    assert_eq!(tour.text(".channel-release").await, "1.0.0");
    assert!(!tour.text("#channels").await.contains("2.0.0"));

    tour.open(&format!("/dashboard/installs/{}", on.id)).await;
    assert!(tour
        .text("#install-facts")
        .await
        .contains("1.0.0 (sequence"));
    assert!(tour.text("#services").await.contains("differs"));
    tour.keep("install").await;
    tour.open(&format!("/dashboard/installs/{}", f1.id)).await;
    assert_eq!(tour.text("#verdict").await, "unhealthy");
    let history = tour.text("#history").await;
    assert!(
        history.contains("converged failed:health_failed"),
        "{history}"
    );
    tour.keep("install-failed").await;

    tour.open(&format!("/dashboard/installs/{}", drifted.id))
        .await;
    assert_eq!(tour.text("#verdict").await, "healthy");
    assert!(tour.text("#drift").await.contains("drifted:web"));

    tour.open("/dashboard/releases").await;
    let releases = tour.text("#releases").await;
    assert!(
        releases.contains("2.0.0") && releases.contains("sha256:"),
        "{releases}"
    );
    tour.keep("releases").await;

    tour.open("/dashboard/audit").await;
    let action = tour
        .c
        .find(Locator::Css("input[name=action]"))
        .await
        .unwrap();
    action.send_keys("rollout.abort").await.unwrap();
    tour.click("#filter").await;
    let audit = tour.text("#audit").await;
    assert!(audit.contains("rollout.abort"), "{audit}");
    assert!(!audit.contains("rollout.pause"), "{audit}");
    tour.keep("audit").await;
    tour.c.close().await.unwrap();
}
