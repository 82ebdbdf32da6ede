#![allow(clippy::unwrap_used)]
//! `driftless-vendor webhook` against a real control plane (`init` + `serve`): `add`
//! prints the secret once, `list` never shows it, bad input is refused with nothing
//! registered, `remove` removes, and the secret reaches neither the log nor the audit.

use std::os::unix::fs::PermissionsExt as _;

use driftless_test_support::control_plane::ControlPlane;
use serde_json::Value;

fn ok(cp: &ControlPlane, args: &[&str]) -> String {
    cp.vendor_ok(args)
        .unwrap_or_else(|e| panic!("{args:?}: {e:#}"))
}

fn json(cp: &ControlPlane, args: &[&str]) -> Value {
    let text = ok(cp, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

#[test]
fn webhooks_are_added_listed_without_their_secret_and_removed() {
    let cp = ControlPlane::start().unwrap();
    ok(&cp, &["app", "create", "acme"]);
    let url = "https://hooks.example.com/driftless";
    let secret = ok(
        &cp,
        &[
            "webhook",
            "add",
            "--app",
            "acme",
            "--url",
            url,
            "--events",
            "rollout.halted,release.yanked",
        ],
    );
    let secret = secret.trim();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "add prints the secret: {secret}"
    );

    let table = ok(&cp, &["webhook", "list", "--app", "acme"]);
    assert!(
        table.contains(url) && table.contains("release.yanked,rollout.halted"),
        "{table}"
    );
    let listed = json(&cp, &["webhook", "list", "--app", "acme", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        !listed.to_string().contains(secret),
        "list never shows the secret"
    );
    let id = listed[0]["id"].as_u64().unwrap().to_string();

    // Refused, and nothing registered: an unknown event type, a URL that is not http(s),
    // an unknown app.
    let cases: [(&[&str], &str); 3] = [
        (
            &["--events", "rollout.exploded", "--url", url],
            "rollout.exploded",
        ),
        (&["--url", "ftp://example.com/in"], "ftp://example.com/in"),
        (&["--url", url, "--app", "nope"], "nope"),
    ];
    for (extra, named) in cases {
        let mut args = vec!["webhook", "add"];
        if !extra.contains(&"--app") {
            args.extend(["--app", "acme"]);
        }
        args.extend(extra);
        let out = cp.vendor().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(
            stderr.contains("error") && stderr.contains(named),
            "{args:?}: the error names `{named}`: {stderr}"
        );
    }
    assert_eq!(
        json(&cp, &["webhook", "list", "--app", "acme", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let deliveries = json(&cp, &["webhook", "deliveries", "--app", "acme", "--json"]);
    assert_eq!(deliveries, Value::Array(vec![]));
    ok(&cp, &["webhook", "remove", "--app", "acme", &id]);
    assert_eq!(
        json(&cp, &["webhook", "list", "--app", "acme", "--json"]),
        Value::Array(vec![])
    );
    let again = cp
        .vendor()
        .args(["webhook", "remove", "--app", "acme", &id])
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "a removed webhook cannot be removed again"
    );

    let audit = ok(&cp, &["audit", "--json"]);
    assert!(
        audit.contains("webhook.add") && audit.contains("webhook.remove"),
        "{audit}"
    );
    assert!(!audit.contains(secret), "the secret is not audited");
    let log = std::fs::read_to_string(cp.dir.path().join("control-plane.log")).unwrap();
    assert!(!log.contains(secret), "the secret is not logged");
    // The secret is stored in the database, inside the owner-only data directory.
    let mode = std::fs::metadata(cp.data_dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "data dir mode {mode:o}");
}
