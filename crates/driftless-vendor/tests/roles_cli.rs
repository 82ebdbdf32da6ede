#![allow(clippy::unwrap_used)]
//! `driftless-vendor user` and `token` against a real control plane (`init` +
//! `serve`): a token is printed once and never listed, a role that may not do
//! something exits 24 with one `error:` line saying which role it needs and nothing
//! changed, an app-scoped token is kept to its app, and a revoked token exits 7.

use driftless_test_support::control_plane::ControlPlane;
use serde_json::Value;

fn ok(cp: &ControlPlane, args: &[&str]) -> String {
    cp.vendor_ok(args)
        .unwrap_or_else(|e| panic!("{args:?}: {e:#}"))
}

/// Runs `args` with `token`: exit code, stdout, stderr.
fn as_token(cp: &ControlPlane, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = cp
        .vendor()
        .env("DRIFTLESS_TOKEN", token)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn roles_are_enforced_and_tokens_are_shown_once_scoped_and_revocable() {
    let cp = ControlPlane::start().unwrap();
    ok(&cp, &["app", "create", "acme"]);
    ok(&cp, &["app", "create", "other"]);

    let sam = ok(&cp, &["user", "create", "sam", "--role", "support"]);
    let sam = sam.trim();
    assert!(sam.starts_with("dltk_"), "create prints the token: {sam}");
    let ci = ok(
        &cp,
        &["token", "create", "--app", "acme", "--expires-in", "30d"],
    );
    let ci = ci.trim();

    // Support reads the fleet, but may not create a customer: exit 24, one line that
    // names the role it needs, and no customer made.
    let (code, out, _) = as_token(&cp, sam, &["fleet", "--json"]);
    assert_eq!(code, 0, "support reads the fleet: {out}");
    let (code, _, err) = as_token(&cp, sam, &["customer", "create", "Initech"]);
    assert_eq!(code, 24, "{err}");
    let first = err.lines().next().unwrap();
    assert!(
        first.starts_with("error: ") && first.contains("owner") && first.contains("support"),
        "{err}"
    );
    assert!(!ok(&cp, &["customer", "list"]).contains("Initech"));

    // The CI token publishes to its app only.
    let (code, out, err) = as_token(&cp, ci, &["releases", "--app", "acme"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = as_token(&cp, ci, &["releases", "--app", "other"]);
    assert_eq!(code, 24, "{err}");
    assert!(err.contains("`acme`") && err.contains("`other`"), "{err}");

    // Listings never show a secret.
    let tokens = ok(&cp, &["token", "list", "--json"]);
    let users = ok(&cp, &["user", "list"]);
    for secret in [sam, ci] {
        assert!(!tokens.contains(secret) && !users.contains(secret));
    }
    let tokens: Value = serde_json::from_str(&tokens).unwrap();
    let ci_id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user"].is_null())
        .map(|t| t["id"].as_str().unwrap().to_string())
        .unwrap();

    // Rotated: the old token is refused (exit 7), the new one works.
    let new_ci = ok(&cp, &["token", "rotate", &ci_id]);
    let (code, _, err) = as_token(&cp, ci, &["releases", "--app", "acme"]);
    assert_eq!(code, 7, "{err}");
    let (code, _, err) = as_token(&cp, new_ci.trim(), &["releases", "--app", "acme"]);
    assert_eq!(code, 0, "{err}");

    // A revoked user's token is refused at once.
    ok(&cp, &["user", "revoke", "sam"]);
    let (code, _, err) = as_token(&cp, sam, &["fleet"]);
    assert_eq!(code, 7, "{err}");

    // Bad input: exit 3 and nothing made.
    let (code, _, err) = as_token(
        &cp,
        &cp.token,
        &["user", "create", "Bad Name", "--role", "support"],
    );
    assert_eq!(code, 3, "{err}");
    let audit = ok(&cp, &["audit", "--json"]);
    assert!(
        audit.contains("user:owner") && audit.contains("user.create"),
        "{audit}"
    );
}
