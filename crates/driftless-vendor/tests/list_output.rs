#![allow(clippy::unwrap_used)]
//! The list commands against a real control plane (`init` + `serve`, no registry or
//! Docker needed): a person gets an aligned table, a script gets the same JSON as
//! before with `--json`, and `license list` never shows a license key.

use driftless_test_support::control_plane::ControlPlane;
use serde_json::Value;

/// Asserting shorthands over the shared control plane.
trait Vendor {
    /// Runs a vendor command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String;
    /// Runs a vendor command that must succeed and print JSON.
    fn json(&self, args: &[&str]) -> Value;
}

impl Vendor for ControlPlane {
    fn ok(&self, args: &[&str]) -> String {
        self.vendor_ok(args).unwrap_or_else(|e| panic!("{e:#}"))
    }

    fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }
}

/// A control plane with app `acme` (channel `stable`), a customer and a license;
/// returns it and the license key.
fn with_license() -> (ControlPlane, String) {
    let cp = ControlPlane::start().unwrap();
    cp.ok(&["app", "create", "acme"]);
    cp.ok(&["channel", "create", "--app", "acme", "stable"]);
    cp.ok(&["customer", "create", "Example Corp"]);
    let key = cp.ok(&[
        "license",
        "create",
        "--customer",
        "Example Corp",
        "--app",
        "acme",
        "--channel",
        "stable",
    ]);
    let key = key.trim().to_string();
    assert!(
        key.starts_with("dl_"),
        "license create prints the key: {key}"
    );
    (cp, key)
}

/// The lines of a table, asserting its header.
fn table<'a>(text: &'a str, header: &[&str]) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let titles: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(titles, header, "{text}");
    lines
}

/// Each row's cell starts where its column's title starts.
fn assert_aligned(lines: &[&str], title: &str, cell: &str) {
    let col = lines[0].find(title).unwrap();
    assert!(
        lines[1..]
            .iter()
            .any(|l| l.get(col..).is_some_and(|rest| rest.starts_with(cell))),
        "no `{cell}` under `{title}`:\n{}",
        lines.join("\n")
    );
}

#[test]
fn license_list_prints_a_table_without_the_key_and_json_with_json() {
    let (cp, key) = with_license();
    let text = cp.ok(&["license", "list"]);
    assert!(!text.contains(&key), "the key is a secret: {text}");
    let lines = table(&text, &["LICENSE", "CUSTOMER", "APP", "CHANNEL", "REVOKED"]);
    assert_eq!(lines.len(), 2, "{text}");
    assert_aligned(&lines, "CUSTOMER", "Example Corp");
    assert_aligned(&lines, "CHANNEL", "stable");
    assert_aligned(&lines, "REVOKED", "no");

    let json_text = cp.ok(&["license", "list", "--json"]);
    assert!(
        !json_text.contains(&key),
        "the key is a secret: {json_text}"
    );
    let list: Value = serde_json::from_str(&json_text).unwrap();
    let l = &list.as_array().unwrap()[0];
    assert_eq!(l["customer"], "Example Corp");
    assert_eq!(l["app"], "acme");
    assert_eq!(l["channel"], "stable");
    assert_eq!(l["revoked"], false);
    assert!(l.get("key").is_none(), "{l}");
    assert_aligned(&lines, "LICENSE", l["id"].as_str().unwrap());
}

#[test]
fn app_customer_and_empty_lists_print_tables_or_json() {
    let (cp, _) = with_license();
    let apps = cp.ok(&["app", "list"]);
    let lines = table(&apps, &["APP", "CHANNELS"]);
    assert_aligned(&lines, "CHANNELS", "stable=-");
    assert_eq!(
        cp.json(&["app", "list", "--json"]),
        serde_json::json!([{"name": "acme", "channels": [{"name": "stable", "version": null}]}])
    );

    let customers = cp.ok(&["customer", "list"]);
    let lines = table(&customers, &["CUSTOMER", "CREATED"]);
    assert!(lines[1].starts_with("Example Corp  "), "{customers}");
    assert_eq!(
        cp.json(&["customer", "list", "--json"])[0]["name"],
        "Example Corp"
    );

    let rollouts = cp.ok(&["rollout", "list", "--app", "acme"]);
    let header = [
        "ID", "CHANNEL", "VERSION", "FROM", "STATE", "WAVE", "TRIED", "FAILED", "REASON",
    ];
    assert_eq!(table(&rollouts, &header).len(), 1, "{rollouts}");
    assert_eq!(
        cp.json(&["rollout", "list", "--app", "acme", "--json"]),
        serde_json::json!([])
    );

    let releases = cp.ok(&["releases", "--app", "acme"]);
    let header = ["VERSION", "COUNTER", "STATE", "CREATED", "DIGEST"];
    assert_eq!(table(&releases, &header).len(), 1, "{releases}");
    assert_eq!(
        cp.json(&["releases", "--app", "acme", "--json"]),
        serde_json::json!([])
    );

    let fleet = cp.ok(&["fleet", "--app", "acme"]);
    let header = [
        "INSTALL", "CUSTOMER", "CHANNEL", "DESIRED", "CURRENT", "STATUS", "POLICY", "REASON",
    ];
    assert_eq!(table(&fleet, &header).len(), 1, "{fleet}");
}

#[test]
fn audit_prints_a_row_per_entry_or_the_entries_as_json() {
    let (cp, _) = with_license();
    let entries = cp.json(&["audit", "--json"]);
    let entries = entries.as_array().unwrap();
    assert!(
        entries.len() >= 4,
        "app, channel, customer, license: {entries:?}"
    );
    let text = cp.ok(&["audit"]);
    let lines = table(&text, &["SEQ", "AT", "ACTOR", "ACTION", "SUBJECT"]);
    assert_eq!(lines.len(), entries.len() + 1, "{text}");
    for e in entries {
        assert_aligned(&lines, "ACTION", e["event"]["action"].as_str().unwrap());
    }
    assert_aligned(&lines, "ACTION", "app.create");
    assert_eq!(
        cp.json(&["audit", "--limit", "1", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// The cursor a paged command printed on stderr (`... --cursor C`), if any.
fn next_cursor(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .find_map(|l| l.split_once("--cursor ").map(|(_, c)| c.trim().to_string()))
}

#[test]
fn audit_pages_follow_the_cursor_on_stderr_and_keep_stdout_data() {
    let (cp, _) = with_license();
    let everything = cp.json(&["audit", "--limit", "1000", "--json"]);
    let everything = everything.as_array().unwrap().clone();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["audit", "--limit", "2", "--json"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let out = cp.vendor().args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let page: Value = serde_json::from_slice(&out.stdout).unwrap();
        let page = page.as_array().unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().cloned());
        match next_cursor(&String::from_utf8_lossy(&out.stderr)) {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen, everything,
        "two at a time, the pages are the whole log"
    );

    let out = cp
        .vendor()
        .args(["audit", "--cursor", "bogus"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cursor"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn fleet_summary_prints_the_counts_and_a_total() {
    let (cp, _) = with_license();
    let text = cp.ok(&["fleet", "--summary", "--app", "acme"]);
    let lines = table(
        &text,
        &["APP", "CHANNEL", "VERSION", "STATUS", "REASON", "INSTALLS"],
    );
    assert_eq!(
        lines[1..],
        ["total                                    0"],
        "{text}"
    );
    let json = cp.json(&["fleet", "--summary", "--json"]);
    assert_eq!(json, serde_json::json!({"total": 0, "counts": []}));
    assert_eq!(
        cp.json(&["fleet", "--limit", "5", "--json"]),
        serde_json::json!([])
    );
}
