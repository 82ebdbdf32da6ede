//! Logs and traces end to end, on the real registry, Docker Engine and control plane:
//! one sync is followed from the host's log into the control plane's by its W3C trace
//! id, and a whole install, sync, config and vendor session at the most verbose log
//! level leaves no token, key, license or secret value in any log or output.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::{Output, Stdio};

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use base64::Engine as _;
use driftless_test_support::process::{assert_success, stderr, stdout};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::world::World;
use serde_json::Value;

/// The JSON lines of `text`, skipping the others (progress, plain messages).
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The control plane's lines of trace `trace_id`.
fn server_lines_of(log: &str, trace_id: &str) -> Vec<Value> {
    json_lines(log)
        .into_iter()
        .filter(|l| l["spans"][0]["trace_id"] == trace_id)
        .collect()
}

fn field<'a>(line: &'a Value, key: &str) -> &'a str {
    line[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key}: {line}"))
}

#[test]
fn a_syncs_trace_id_finds_its_requests_in_the_control_planes_log() {
    let w = World::new("trace-follow");
    w.release("1.0.0", Spec::default());
    w.install("h1");

    let out = w
        .cli("h1")
        .env("DRIFTLESS_LOG", "debug")
        .args(["--log-format", "json", "sync"])
        .output()
        .unwrap();
    assert_success(&out, "driftless sync");
    let requests: Vec<Value> = json_lines(&stderr(&out))
        .into_iter()
        .filter(|l| l["message"] == "control plane answered")
        .collect();
    assert!(
        requests
            .iter()
            .any(|l| field(l, "path").ends_with("/checkin")),
        "{requests:?}"
    );
    let traces: BTreeSet<&str> = requests.iter().map(|l| field(l, "trace_id")).collect();
    assert_eq!(traces.len(), 1, "one trace per sync: {traces:?}");
    let trace_id = *traces.first().unwrap();
    let spans: BTreeSet<&str> = requests.iter().map(|l| field(l, "span_id")).collect();
    assert_eq!(spans.len(), requests.len(), "a span per request");
    let request_ids: BTreeSet<&str> = requests.iter().map(|l| field(l, "request_id")).collect();
    assert_eq!(
        w.status("h1")["last_trace_id"],
        trace_id,
        "status names the trace"
    );

    let log = w.server_log();
    let lines = server_lines_of(&log, trace_id);
    let parents: BTreeSet<&str> = lines
        .iter()
        .map(|l| field(&l["spans"][0], "parent_span_id"))
        .collect();
    assert_eq!(parents, spans, "every request of the sync, and only those");
    let served: BTreeSet<&str> = lines
        .iter()
        .map(|l| field(&l["spans"][0], "request_id"))
        .collect();
    assert_eq!(served, request_ids);
    assert!(
        lines
            .iter()
            .any(|l| l["route"] == "/v1/installs/{id}/checkin" && l["status"] == 200),
        "{lines:?}"
    );

    let agent = w
        .cli("h1")
        .args(["agent", "--initial-jitter-secs", "0", "--max-syncs", "1"])
        .output()
        .unwrap();
    assert_success(&agent, "driftless agent");
    let text = stderr(&agent);
    let sync_line = text
        .lines()
        .find(|l| l.contains("already converged on 1.0.0"))
        .unwrap_or_else(|| panic!("no sync line: {text}"));
    let agent_trace = sync_line
        .split_once("trace_id=")
        .map(|(_, id)| id.trim())
        .unwrap_or_else(|| panic!("no trace_id on the agent's line: {sync_line}"));
    assert_eq!(agent_trace.len(), 32, "{sync_line}");
    assert_ne!(agent_trace, trace_id, "each sync its own trace");
    let log = w.server_log();
    assert!(
        server_lines_of(&log, agent_trace)
            .iter()
            .any(|l| l["route"] == "/v1/installs/{id}/checkin"),
        "the agent's check-in is not under {agent_trace} in the control plane's log"
    );
}

/// A secret and what it is, for the failure message.
struct Secret {
    what: String,
    value: String,
}

fn secret(what: impl Into<String>, value: impl Into<String>) -> Secret {
    Secret {
        what: what.into(),
        value: value.into(),
    }
}

/// Everything of a private key file that must never be seen: its PEM body lines, and
/// each 32-byte private value (an ASN.1 `OCTET STRING` of 32 bytes) in hex and base64.
fn private_key_secrets(path: &Path) -> Vec<Secret> {
    let pem = std::fs::read_to_string(path).unwrap();
    let name = path.display().to_string();
    let body: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .collect();
    let mut found: Vec<Secret> = body
        .iter()
        .filter(|l| l.len() >= 24)
        .map(|l| secret(format!("a PEM line of {name}"), *l))
        .collect();
    let der = B64.decode(body.concat()).unwrap();
    for at in 0..der.len().saturating_sub(33) {
        if der[at] == 0x04 && der[at + 1] == 0x20 && at + 34 <= der.len() {
            let private = &der[at + 2..at + 34];
            found.push(secret(format!("{name} in hex"), hex::encode(private)));
            found.push(secret(format!("{name} in base64"), B64.encode(private)));
            found.push(secret(
                format!("{name} in base64url"),
                URL_SAFE_NO_PAD.encode(private),
            ));
        }
    }
    assert!(
        found.len() > body.len().min(1),
        "{name}: no private value found"
    );
    found
}

/// Every private key file under `dir`.
fn private_keys_under(dir: &Path) -> Vec<Secret> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(private_keys_under(&path));
        } else if std::fs::read_to_string(&path).is_ok_and(|t| t.contains("PRIVATE KEY-----")) {
            found.extend(private_key_secrets(&path));
        }
    }
    found
}

/// The first JWT-shaped string (`eyJ….eyJ….`) in `text`: a registry or push token.
fn jwt_in(text: &str) -> Option<&str> {
    let url_safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices("eyJ").find_map(|(at, _)| {
        let rest = &text[at..];
        let header_len = rest.find(|c: char| !url_safe(c))?;
        let after = &rest[header_len..];
        after
            .strip_prefix(".eyJ")
            .map(|_| &rest[..(header_len + 20).min(rest.len())])
    })
}

#[test]
fn no_token_key_license_or_secret_value_reaches_any_log_at_trace_level() {
    let mut w = World::new("secret-logs");
    w.set_server_env("DRIFTLESS_LOG", "trace");
    w.stack
        .cli_env
        .push(("DRIFTLESS_LOG".into(), "trace".into()));
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let mut record = |what: &str, out: Output| {
        assert_success(&out, what);
        outputs.push((what.to_string(), out));
    };

    // A release declaring a secret value the customer sets.
    let compose = w.build("1.0.0", Spec::default());
    let text = std::fs::read_to_string(&compose).unwrap();
    let with_secret = text
        .replace(
            "  config:\n",
            "  config:\n    - name: API_KEY\n      type: string\n      secret: true\n",
        )
        .replace(
            "      GREETING: ${GREETING}\n",
            "      GREETING: ${GREETING}\n      API_KEY: ${API_KEY}\n",
        );
    assert_ne!(with_secret, text);
    std::fs::write(&compose, with_secret).unwrap();
    let compose = compose.to_string_lossy().to_string();
    let app = w.app.clone();
    let publish = [
        "publish",
        "--app",
        &app,
        "--version",
        "1.0.0",
        "--compose",
        &compose,
    ];
    record("publish", w.vendor(&publish));
    let promote = [
        "promote",
        "--app",
        &app,
        "--version",
        "1.0.0",
        "--channel",
        "stable",
    ];
    record("promote", w.vendor(&promote));

    record("install", w.install_with("h1", &w.license));
    record("first sync", w.sync("h1"));
    let config_secret = format!("api-key-{}", hex::encode(rand::random::<[u8; 16]>()));
    let mut set = w
        .cli("h1")
        .args(["config", "set", "API_KEY", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    set.stdin
        .take()
        .unwrap()
        .write_all(config_secret.as_bytes())
        .unwrap();
    record("config set", set.wait_with_output().unwrap());
    record("sync with the secret", w.sync("h1"));
    record("config list", w.driftless("h1", &["config", "list"]));
    record("status", w.driftless("h1", &["status", "--json"]));
    let agent = ["agent", "--initial-jitter-secs", "0", "--max-syncs", "1"];
    record("agent", w.driftless("h1", &agent));
    let login = w.driftless("h1", &["registry-login"]);
    assert_success(&login, "registry-login");
    let login_line = stdout(&login);
    let mut credential = login_line.split_whitespace();
    let (user, password) = (credential.next().unwrap(), credential.next().unwrap());
    let web = format!("{app}/r1/web");
    let registry_token = w.stack.registry_token(user, password, &[&web]).unwrap();
    for args in [
        &["fleet", "--app", &app, "--json"][..],
        &["audit", "--limit", "100"],
        &["license", "list"],
        &["customer", "list"],
        &["rollout", "list", "--app", &app],
    ] {
        record(&format!("vendor {}", args.join(" ")), w.vendor(args));
    }

    let host = w.state_dir("h1");
    let mut secrets = vec![
        secret("the operator token", &w.stack.token),
        secret("the license key", &w.license),
        secret("the secret config value", &config_secret),
        secret("a registry login credential", password),
        secret("a registry token", &registry_token),
    ];
    secrets.extend(private_keys_under(&host.join("keys")));
    secrets.extend(private_keys_under(&w.stack.data_dir()));
    let session: Value =
        serde_json::from_slice(&std::fs::read(host.join("session.json")).unwrap()).unwrap();
    let session_key = field(&session, "key");
    secrets.push(secret("the check-in session key", session_key));
    secrets.push(secret(
        "the check-in session key in hex",
        hex::encode(B64.decode(session_key).unwrap()),
    ));

    let server_log = w.server_log();
    let mut texts = vec![("the control plane's log".to_string(), server_log.clone())];
    texts.push(("registry-login's stderr".into(), stderr(&login)));
    for (what, out) in &outputs {
        texts.push((format!("{what}: stdout"), stdout(out)));
        texts.push((format!("{what}: stderr"), stderr(out)));
    }
    // The logs were on: a test of empty logs would prove nothing.
    assert!(server_log.contains("\"level\":\"DEBUG\""), "{server_log}");
    assert!(server_log.contains("/v1/installs/{id}/checkin"));
    let host_log = &outputs[3].1;
    assert!(stderr(host_log).contains("control plane answered"));
    for (what, text) in &texts {
        for s in &secrets {
            assert!(
                !text.contains(&s.value),
                "{} appears in {what}:\n{text}",
                s.what
            );
        }
        if let Some(jwt) = jwt_in(text) {
            panic!("a token ({jwt}…) appears in {what}:\n{text}");
        }
    }
    assert!(
        jwt_in(&registry_token).is_some(),
        "the token scan recognises a registry token"
    );
}
