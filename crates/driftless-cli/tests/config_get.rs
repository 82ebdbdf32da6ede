#![allow(clippy::unwrap_used)]
//! `driftless config get|list|set` on a state directory laid out as a sync leaves it
//! (no control plane or Docker needed): a secret never reaches stdout unless
//! `--reveal`, and `set` reads one from standard input or a file, never echoing it.

use assert_cmd::Command;
use driftless_wire::release::{
    Assignment, ConfigType, ConfigVar, DescriptorRef, HealthSpec, ReleaseDocument,
};
use driftless_wire::{Digest, Envelope, ASSIGNMENT_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE};
use std::path::Path;

const SECRET: &str = "s3cret-value";

fn var(name: &str, default: Option<&str>, secret: bool) -> ConfigVar {
    ConfigVar {
        name: name.into(),
        kind: ConfigType::String,
        default: default.map(str::to_string),
        required: false,
        secret,
        description: None,
    }
}

/// An install whose verified release 1.0.0 declares GREETING and a secret API_KEY,
/// with API_KEY set.
fn state_dir(dir: &Path) {
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[install]\nserver = \"http://127.0.0.1:1\"\nid = \"ins_test\"\napp = \"acme\"\n\
             channel = \"stable\"\nproject = \"acme\"\nroot_fingerprint = \"sha256:00\"\n\n\
             [values]\nAPI_KEY = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("sync.json"), r#"{"assigned_version": "1.0.0"}"#).unwrap();
    let digest = Digest::of(b"compose");
    let release = ReleaseDocument {
        doc_type: "release".into(),
        app: "acme".into(),
        version: "1.0.0".parse().unwrap(),
        release_counter: 1,
        created_at: 0,
        expires: i64::MAX,
        images: vec![],
        descriptor: DescriptorRef {
            repository: "acme/r1/compose".into(),
            manifest_digest: digest.clone(),
            digest: digest.clone(),
            size: 7,
        },
        config_schema: vec![
            var("GREETING", Some("Hello"), false),
            var("API_KEY", None, true),
        ],
        health: HealthSpec::default(),
        min_cli_version: "0.1.0".parse().unwrap(),
        rollback_floor: 0,
        cli: vec![],
        notes: None,
        urgent: false,
        migrations: Default::default(),
        preflight: Default::default(),
        sboms: Vec::new(),
    };
    let assignment = Assignment {
        doc_type: "assignment".into(),
        install_id: "ins_test".into(),
        app: "acme".into(),
        channel: "stable".into(),
        version: "1.0.0".parse().unwrap(),
        release_digest: digest,
        release_counter: 1,
        sequence: 1,
        issued_at: 0,
        expires: i64::MAX,
        allow_downgrade: false,
        entitlements: Default::default(),
    };
    let release_dir = dir.join("releases/1.0.0");
    std::fs::create_dir_all(&release_dir).unwrap();
    let envelope = |t: &str, doc: Vec<u8>| serde_json::to_vec(&Envelope::new(t, &doc)).unwrap();
    std::fs::write(
        release_dir.join("release.json"),
        envelope(RELEASE_PAYLOAD_TYPE, serde_json::to_vec(&release).unwrap()),
    )
    .unwrap();
    std::fs::write(
        release_dir.join("assignment.json"),
        envelope(
            ASSIGNMENT_PAYLOAD_TYPE,
            serde_json::to_vec(&assignment).unwrap(),
        ),
    )
    .unwrap();
}

fn driftless(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("driftless")
        .unwrap()
        .arg("--state-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn config_get_of_a_secret_prints_nothing_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    state_dir(dir.path());
    let out = driftless(dir.path(), &["config", "get", "API_KEY"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("error:"), "{stderr}");
    assert!(
        stderr.contains("secret") && stderr.contains("--reveal"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET), "{stderr}");
}

#[test]
fn config_get_reveal_prints_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    state_dir(dir.path());
    let out = driftless(dir.path(), &["config", "get", "API_KEY", "--reveal"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{SECRET}\n")
    );
}

#[test]
fn config_get_of_a_plain_value_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    state_dir(dir.path());
    let out = driftless(dir.path(), &["config", "get", "GREETING"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "Hello\n");
}

#[test]
fn config_list_never_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    state_dir(dir.path());
    let out = driftless(dir.path(), &["config", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(SECRET), "{text}");
    assert!(text.contains("API_KEY\tstring\t(secret, set)"), "{text}");
    assert!(text.contains("GREETING\tstring\tHello (default)"), "{text}");
}

/// `driftless config set args…` with `stdin` piped in.
fn config_set(dir: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    Command::cargo_bin("driftless")
        .unwrap()
        .arg("--state-dir")
        .arg(dir)
        .args(["config", "set"])
        .args(args)
        .write_stdin(stdin)
        .output()
        .unwrap()
}

/// What `config get NAME --reveal` prints.
fn value_of(dir: &Path, name: &str) -> String {
    let out = driftless(dir, &["config", "get", name, "--reveal"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

#[test]
fn config_set_reads_a_secret_from_standard_input_or_a_file_and_never_echoes_it() {
    let dir = tempfile::tempdir().unwrap();
    state_dir(dir.path());
    let file = dir.path().join("api-key");
    std::fs::write(&file, "from-a-file\n").unwrap();
    let runs: [(&[&str], &str, &str); 3] = [
        (&["API_KEY", "-"], "from-stdin-dash\n", "from-stdin-dash"),
        (
            &["API_KEY", "--stdin"],
            "from-stdin-flag",
            "from-stdin-flag",
        ),
        (
            &["API_KEY", "--from-file", file.to_str().unwrap()],
            "",
            "from-a-file",
        ),
    ];
    for (args, stdin, expected) in runs {
        let out = config_set(dir.path(), args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            !stderr.contains(expected),
            "{args:?} echoed the secret: {stderr}"
        );
        assert!(!stderr.contains("warning"), "{args:?}: {stderr}");
        assert_eq!(value_of(dir.path(), "API_KEY"), expected);
    }
}

#[test]
fn config_set_of_a_secret_on_the_command_line_still_works_but_warns_why_it_is_unsafe() {
    let dir = tempfile::tempdir().unwrap();
    state_dir(dir.path());
    let out = config_set(dir.path(), &["API_KEY=on-the-line", "GREETING=Hi"], "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 1, "only the secret warns: {stderr}");
    assert!(
        warnings[0].contains("API_KEY") && warnings[0].contains("ps"),
        "{stderr}"
    );
    assert!(warnings[0].contains("config set API_KEY -"), "{stderr}");
    assert!(!stderr.contains("on-the-line"), "{stderr}");
    assert_eq!(value_of(dir.path(), "API_KEY"), "on-the-line");
    assert_eq!(value_of(dir.path(), "GREETING"), "Hi");
}

#[test]
fn config_set_refusals_are_one_error_and_a_hint_with_their_own_code_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    state_dir(dir.path());
    let before = std::fs::read(dir.path().join("config.toml")).unwrap();
    let file = dir.path().join("api-key");
    std::fs::write(&file, "from-a-file\n").unwrap();
    let path = file.to_str().unwrap();
    let cases: [(&[&str], &str, i32); 7] = [
        (&["API_KEY", "-", "--from-file", path], "x", 2),
        (&["API_KEY", "--stdin", "--from-file", path], "x", 2),
        (&["API_KEY=x", "--stdin"], "y", 2),
        (&["API_KEY", "GREETING", "--stdin"], "y", 2),
        (&["API_KEY", "-"], "", 3),
        (&["API_KEY", "--from-file", "/no/such/file"], "", 3),
        (&["NO_SUCH_KEY", "-"], "value", 3),
    ];
    for (args, stdin, code) in cases {
        let out = config_set(dir.path(), args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(lines[0].starts_with("error: "), "{args:?}: {stderr}");
        assert_eq!(lines.len(), 3, "{args:?}: {stderr}");
        assert!(
            lines[1].is_empty() && lines[2].starts_with("hint: "),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            std::fs::read(dir.path().join("config.toml")).unwrap(),
            before,
            "{args:?} changed config.toml"
        );
    }
}
