//! A registry token that runs out during a slow pull is renewed, and the host still
//! converges in one sync: the real CLI, control plane and registry, with the engine
//! pulling through a proxy that slows the link and refuses expired tokens to the
//! second (distribution's own minute of leeway would hide an expired token).
//!
//! Needs `cargo build --bins` first (scripts/test does); a missing Docker Engine or
//! registry fails the tests, it never skips them.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use driftless_exit::code::UNAUTHORIZED;
use driftless_test_support::http_probe::http_body;
use driftless_test_support::images::{build_http_image_with_payload, with_retries};
use driftless_test_support::process::{assert_refused_with_hint, assert_success, stderr, stdout};
use driftless_test_support::release_spec::{served_body, Spec};
use driftless_test_support::throttling_proxy::ThrottlingProxy;
use driftless_test_support::world::{unique, World};

/// The shortest token lifetime the control plane mints, in seconds.
const TOKEN_LIFETIME_S: u64 = 20;
/// How fast the proxy sends the registry's answers on.
const BYTES_PER_S: u64 = 256 * 1024;
/// web's extra layer when its pull must outlive the token: 28 s at [`BYTES_PER_S`].
const PAYLOAD_PAST_EXPIRY: usize = 7 << 20;
/// web's extra layer when its pull must only pass the renewal margin (two thirds of
/// the token's life): 16 s at [`BYTES_PER_S`].
const PAYLOAD_PAST_MARGIN: usize = 4 << 20;
/// How long the revocation test waits for the pull to start.
const PULL_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Removes, on drop, every local image whose repository names `app/`: the ones the
/// host pulled by digest, which the world's tag cleanup does not see. Declare it before
/// the world, so it runs after the world removed the containers using them.
struct PulledImages(String);

impl Drop for PulledImages {
    fn drop(&mut self) {
        forget_images(&self.0);
    }
}

/// Removes every local image whose repository names `app/`, so a host must pull it.
fn forget_images(app: &str) {
    let out = Command::new("docker")
        .args(["image", "ls", "--format", "{{.ID}} {{.Repository}}"])
        .output()
        .unwrap();
    let ids: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| l.contains(&format!("{app}/")))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    if !ids.is_empty() {
        let out = Command::new("docker")
            .args(["rmi", "-f"])
            .args(&ids)
            .output()
            .unwrap();
        assert_success(&out, "docker rmi");
    }
}

/// A world whose control plane mints the shortest tokens it can and whose 1.0.0 (on `stable`)
/// has a web image `payload` bytes larger than usual that only the registry holds,
/// with hosts told to pull through a throttling proxy.
fn slow_world(test: &str, payload: usize) -> (World, ThrottlingProxy) {
    let mut w = World::new(test);
    w.set_server_setting("token_lifetime_s", TOKEN_LIFETIME_S);
    let spec = Spec {
        unique_images: true,
        ..Spec::PORTS
    };
    let compose = w.build("1.0.0", spec);
    let web = format!("{}/web:1.0.0", w.app);
    let body = served_body(&w.app, "web", "1.0.0", spec);
    with_retries(|| build_http_image_with_payload(&web, &body, payload));
    w.publish("1.0.0", &compose);
    w.promote("1.0.0", "stable");
    forget_images(&w.app);

    // Published straight to the registry; hosts are sent through the proxy.
    let registry = w.stack.registry.host();
    let proxy = ThrottlingProxy::start(&registry, BYTES_PER_S).unwrap();
    let settings = w.stack.data_dir().join("settings.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    let quoted = format!("\"{registry}\"");
    assert!(text.contains(&quoted), "settings.toml: {text}");
    std::fs::write(
        &settings,
        text.replace(&quoted, &format!("\"{}\"", proxy.host())),
    )
    .unwrap();
    w.stack.start_control().unwrap();
    (w, proxy)
}

/// Asserts no token the proxy saw appears in the command's output.
fn assert_no_token_in(out: &Output, proxy: &ThrottlingProxy) {
    let (o, e) = (stdout(out), stderr(out));
    for token in proxy.tokens() {
        assert!(
            !o.contains(&token) && !e.contains(&token),
            "a registry token is in the output:\n{o}\n{e}"
        );
    }
    assert!(!o.contains("eyJ") && !e.contains("eyJ"), "{o}\n{e}");
}

#[test]
fn a_pull_that_outlives_its_registry_token_renews_it_and_converges_in_one_sync() {
    let _pulled = PulledImages(unique("renewal"));
    let (w, proxy) = slow_world("renewal", PAYLOAD_PAST_EXPIRY);
    let id = w.install("h");

    let started = Instant::now();
    let out = w.sync("h");
    let took = started.elapsed();
    assert_success(&out, "one sync over a link slower than the token's life");
    assert!(
        took > Duration::from_secs(TOKEN_LIFETIME_S),
        "the sync took {took:?}: the pull did not outlive the token, so this proves nothing"
    );
    assert_eq!(
        http_body(w.web_port),
        format!("web 1.0.0 of {}", w.app),
        "web"
    );
    assert_eq!(
        http_body(w.api_port),
        format!("api 1.0.0 of {}", w.app),
        "api"
    );

    // The host renewed its token, and the registry served it with the renewed one.
    let tokens = proxy.tokens();
    let requests = proxy.requests();
    assert!(
        tokens.len() >= 2,
        "the pull used one token only: {requests:#?}"
    );
    let renewed = &tokens[1..];
    assert!(
        requests.iter().any(|r| {
            r.token.as_ref().is_some_and(|t| renewed.contains(t))
                && !r.refused_expired
                && r.line.contains("/manifests/")
        }),
        "no manifest was fetched with a renewed token: {requests:#?}"
    );
    assert!(
        stderr(&out).contains("renewed the registry token for 1.0.0"),
        "{}",
        stderr(&out)
    );
    assert_no_token_in(&out, &proxy);
    let audit = w.vendor_json(&["audit", "--json", "--limit", "200"]);
    let renewals = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["event"]["action"] == "install.registry_token" && e["event"]["subject"] == id.as_str()
        })
        .count();
    assert!(renewals >= 1, "no renewal in the audit log: {audit}");
}

#[test]
fn a_pull_the_registry_refuses_for_an_expired_token_is_renewed_and_retried_in_the_same_sync() {
    let _pulled = PulledImages(unique("renewal-refused"));
    let (w, proxy) = slow_world("renewal-refused", PAYLOAD_PAST_EXPIRY);
    w.install("h");

    // Renewing only once refused: the token runs out before api's pull, as it would
    // with no renewal margin at all (or a layer requested after expiry).
    let out = w
        .cli("h")
        .env("DRIFTLESS_TEST_ONLY_RENEW_WHEN_REFUSED", "1")
        .arg("sync")
        .output()
        .unwrap();
    assert_success(&out, "one sync whose token is refused mid-way");
    let requests = proxy.requests();
    assert!(
        requests.iter().any(|r| r.refused_expired),
        "no request was refused, so this proves nothing: {requests:#?}"
    );
    assert!(
        stderr(&out).contains("the registry refused the token while pulling api; renewing it"),
        "{}",
        stderr(&out)
    );
    assert!(proxy.tokens().len() >= 2, "{requests:#?}");
    assert_eq!(http_body(w.web_port), format!("web 1.0.0 of {}", w.app));
    assert_eq!(http_body(w.api_port), format!("api 1.0.0 of {}", w.app));
    assert_no_token_in(&out, &proxy);
}

#[test]
fn a_host_revoked_during_its_pull_gets_no_fresh_token_and_starts_nothing() {
    let _pulled = PulledImages(unique("renewal-revoked"));
    let (w, proxy) = slow_world("renewal-revoked", PAYLOAD_PAST_MARGIN);
    let id = w.install("h");

    let sync = w
        .cli("h")
        .arg("sync")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PULL_START_TIMEOUT;
    while !proxy.requests().iter().any(|r| r.line.contains("/blobs/")) {
        assert!(Instant::now() < deadline, "the pull never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    w.vendor_ok(&["install", "revoke", &id]);
    let out = sync.wait_with_output().unwrap();

    assert_refused_with_hint(&out, UNAUTHORIZED, "sync of a host revoked during its pull");
    assert!(stderr(&out).contains("revoked"), "{}", stderr(&out));
    assert!(
        w.all_containers("h").is_empty(),
        "a revoked host started containers: {:?}",
        w.all_containers("h")
    );
    assert_eq!(
        proxy.tokens().len(),
        1,
        "a revoked host pulled with a fresh token: {:#?}",
        proxy.requests()
    );
    assert_no_token_in(&out, &proxy);
}
