//! `x-driftless.analyzers`: what a release may declare to name known problems in a
//! support bundle, and what `publish` refuses.

#![allow(clippy::unwrap_used)]

use driftless_descriptor::{ComposeFile, DescriptorError};

fn file(analyzers: &str) -> ComposeFile {
    let yaml = format!(
        "x-driftless:\n  analyzers:\n{analyzers}\nservices:\n  web: {{image: acme/web:1}}\n  db: {{image: acme/db:1}}\n"
    );
    ComposeFile::parse(yaml.as_bytes()).unwrap()
}

fn refusal(analyzers: &str) -> String {
    match file(analyzers).analyzers() {
        Err(e @ DescriptorError::InvalidSchema { .. }) => e.to_string(),
        other => panic!("expected a schema error, got {other:?}"),
    }
}

#[test]
fn declared_analyzers_are_read_with_their_service_and_pattern() {
    let a = file(
        "    - {name: disk, pattern: 'No space left on device', message: 'the disk is full'}\n    - {name: db-auth, service: db, pattern: 'password authentication failed for user \"\\w+\"', message: 'DB_PASSWORD is wrong'}",
    )
    .analyzers()
    .unwrap();
    assert_eq!(a.len(), 2);
    assert!(a[0].applies_to("web") && a[0].applies_to("db"));
    assert!(a[1].applies_to("db") && !a[1].applies_to("web"));
    assert!(a[1]
        .pattern
        .is_match("FATAL: password authentication failed for user \"app\""));
    assert_eq!(a[1].message, "DB_PASSWORD is wrong");
}

#[test]
fn a_file_without_analyzers_has_none() {
    let f = ComposeFile::parse(b"services:\n  web: {image: acme/web:1}\n").unwrap();
    assert!(f.analyzers().unwrap().is_empty());
    // The config schema reader accepts the key beside the others.
    assert!(file("    - {name: a, pattern: x, message: m}")
        .config_schema()
        .unwrap()
        .is_empty());
}

#[test]
fn a_pattern_that_does_not_compile_is_refused_naming_the_analyzer() {
    let e = refusal("    - {name: broken, pattern: '(unclosed', message: m}");
    assert!(e.contains("`broken`") && e.contains("not valid"), "{e}");
}

#[test]
fn an_analyzer_of_an_unknown_service_is_refused() {
    let e = refusal("    - {name: a, service: cache, pattern: x, message: m}");
    assert!(e.contains("service `cache`"), "{e}");
}

#[test]
fn a_name_used_twice_an_empty_message_and_an_unknown_field_are_refused() {
    let e =
        refusal("    - {name: a, pattern: x, message: m}\n    - {name: a, pattern: y, message: n}");
    assert!(e.contains("named twice"), "{e}");
    let e = refusal("    - {name: a, pattern: x, message: ' '}");
    assert!(e.contains("name and a message"), "{e}");
    let e = refusal("    - {name: a, pattern: x, message: m, severity: high}");
    assert!(e.contains("severity"), "{e}");
}
