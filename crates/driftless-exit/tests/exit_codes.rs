//! Pins every exit code, the error each kind of failure maps to, how an error and its
//! hint are printed, and that the README's table is the one generated from `CODES`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use driftless_client::ClientError;
use driftless_exit::{
    code, exit_code, markdown_table, render, Coded, Conflict, HintExt, InvalidInput, CODES,
};

#[test]
fn every_exit_code_keeps_its_number() {
    // Scripts depend on these numbers: changing one is a breaking change.
    let pinned = [
        (code::FAILURE, 1),
        (code::USAGE, 2),
        (code::INVALID_INPUT, 3),
        (code::NOT_FOUND, 4),
        (code::CONFLICT, 5),
        (code::UNREACHABLE, 6),
        (code::UNAUTHORIZED, 7),
        (code::REGISTRY, 8),
        (code::VERIFICATION, 9),
        (code::RUNTIME, 10),
        (code::PROTOCOL, 11),
        (code::DISK_FULL, 12),
        (code::SELF_UPDATE, 13),
        (code::WRONG_APP, 14),
        (code::BELOW_ROLLBACK_FLOOR, 15),
        (code::JOB_FAILED, 18),
    ];
    for (constant, number) in pinned {
        assert_eq!(constant, number);
    }
    let listed: Vec<u8> = CODES.iter().map(|c| c.code).collect();
    assert!(
        listed.windows(2).all(|w| w[0] < w[1]),
        "CODES lists every code once, in order: {listed:?}"
    );
    for (constant, _) in pinned {
        assert!(listed.contains(&constant), "CODES lists {constant}");
    }
    assert!(listed.contains(&0), "CODES lists success");
}

#[test]
fn the_readme_exit_code_table_is_the_generated_one() {
    let readme_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(readme_path).unwrap();
    let table = markdown_table();
    assert!(
        readme.contains(&table),
        "README.md's exit-code table differs from driftless_exit::CODES; replace it with:\n\n{table}"
    );
    // And no line of the README names an exit code the table does not have.
    for line in readme.lines() {
        for rest in line.split("exit ").skip(1) {
            if !rest.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            let number: u8 = rest
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or_else(|_| panic!("unparsable exit code in README line: {line}"));
            assert!(
                CODES.iter().any(|c| c.code == number),
                "README names exit {number}, which CODES does not have: {line}"
            );
        }
    }
}

fn api(status: u16) -> anyhow::Error {
    ClientError::Api {
        status,
        code: "x".into(),
        message: "refused".into(),
        hint: None,
    }
    .into()
}

#[test]
fn each_kind_of_failure_maps_to_its_code() {
    let cases: Vec<(anyhow::Error, u8)> = vec![
        (anyhow::anyhow!("something"), code::FAILURE),
        (InvalidInput("bad".into()).into(), code::INVALID_INPUT),
        (Conflict("exists".into()).into(), code::CONFLICT),
        (
            Coded(code::DISK_FULL, "full".into()).into(),
            code::DISK_FULL,
        ),
        (
            ClientError::Unreachable {
                url: "http://127.0.0.1:1".into(),
                reason: "refused".into(),
            }
            .into(),
            code::UNREACHABLE,
        ),
        (
            ClientError::Malformed {
                url: "u".into(),
                reason: "r".into(),
            }
            .into(),
            code::PROTOCOL,
        ),
        (
            ClientError::TooLarge {
                url: "u".into(),
                cap: 1,
            }
            .into(),
            code::PROTOCOL,
        ),
        (api(400), code::INVALID_INPUT),
        (api(422), code::INVALID_INPUT),
        (api(401), code::UNAUTHORIZED),
        (api(403), code::UNAUTHORIZED),
        (api(404), code::NOT_FOUND),
        (api(409), code::CONFLICT),
        (api(500), code::FAILURE),
        (
            driftless_trust::TrustError::Malformed {
                what: "release",
                reason: "r".into(),
            }
            .into(),
            code::VERIFICATION,
        ),
        (
            driftless_trust::TrustError::WrongApp {
                what: "assignment",
                pinned: "acme".into(),
                found: "globex".into(),
            }
            .into(),
            code::WRONG_APP,
        ),
        (
            driftless_trust::TrustError::BelowRollbackFloor {
                version: "1.0.0".into(),
                target: 1,
                floor: 2,
                set_by: Some("3.0.0".into()),
            }
            .into(),
            code::BELOW_ROLLBACK_FLOOR,
        ),
        (
            driftless_runtime::RuntimeError::Pull {
                image: "i".into(),
                reason: "r".into(),
                hint: "h",
            }
            .into(),
            code::REGISTRY,
        ),
        (
            driftless_runtime::RuntimeError::NoCompose.into(),
            code::RUNTIME,
        ),
    ];
    for (err, expected) in cases {
        assert_eq!(exit_code(&err), expected, "exit code of `{err:#}`");
    }
}

#[test]
fn a_code_given_as_context_wins_over_the_cause() {
    let err = anyhow::Error::from(InvalidInput("bad".into()))
        .context(Coded(code::SELF_UPDATE, "smoke test failed".into()));
    assert_eq!(exit_code(&err), code::SELF_UPDATE);
    // A cause deeper in the chain still decides when no context carries a code.
    let err = api(404).context("cannot promote");
    assert_eq!(exit_code(&err), code::NOT_FOUND);
}

#[test]
fn an_error_prints_on_one_line_and_its_hint_below_after_a_blank_line() {
    let err: anyhow::Error = Err::<(), _>(InvalidInput("wave `x` is not a percentage".into()))
        .hint("write waves like \"1%,10%,50%,100%\"")
        .unwrap_err();
    assert_eq!(
        render(&err),
        "error: wave `x` is not a percentage\n\nhint: write waves like \"1%,10%,50%,100%\""
    );
    assert_eq!(
        exit_code(&err),
        code::INVALID_INPUT,
        "a hint keeps the exit code"
    );
}

#[test]
fn an_error_without_a_hint_is_one_line() {
    let err = anyhow::anyhow!("first\nsecond").context("outer");
    assert_eq!(render(&err), "error: outer: first second");
}

#[test]
fn the_control_planes_hint_is_printed_under_its_message() {
    let err: anyhow::Error = ClientError::Api {
        status: 404,
        code: "unknown_app".into(),
        message: "unknown app `acme`".into(),
        hint: Some("create it with `driftless-vendor app create acme`".into()),
    }
    .into();
    assert_eq!(
        render(&err),
        "error: unknown app `acme` (HTTP 404, unknown_app)\n\nhint: create it with `driftless-vendor app create acme`"
    );
}

#[test]
fn a_library_error_brings_its_own_hint() {
    let err: anyhow::Error = driftless_runtime::RuntimeError::NoCompose.into();
    let text = render(&err);
    assert!(text.starts_with("error: neither `docker compose` nor `docker-compose` works"));
    assert!(
        text.ends_with("\n\nhint: install the docker compose plugin (v2) or docker-compose (v1)")
    );
}

#[test]
fn a_descriptor_error_brings_its_own_hint() {
    let err = anyhow::Error::from(driftless_descriptor::DescriptorError::MissingRequired(
        "DB_PASSWORD".into(),
    ))
    .context("cannot render the env file");
    assert_eq!(
        render(&err),
        "error: cannot render the env file: config variable `DB_PASSWORD` is required and has no value\n\nhint: set it with `driftless config set DB_PASSWORD=...`"
    );
    assert_eq!(exit_code(&err), code::INVALID_INPUT);
}

#[test]
fn a_registry_error_brings_its_own_hint() {
    let err: anyhow::Error = driftless_oci::OciError::Unreachable {
        host: "127.0.0.1:5000".into(),
        reason: "connection refused".into(),
    }
    .into();
    assert_eq!(
        render(&err),
        "error: cannot reach the registry at 127.0.0.1:5000 (connection refused)\n\nhint: check that it is running and that the address is right"
    );
    assert_eq!(exit_code(&err), code::REGISTRY);
}

#[test]
fn a_hint_given_as_context_wins_over_the_library_errors_own() {
    let err: anyhow::Error = Err::<(), _>(driftless_descriptor::DescriptorError::MissingImage(
        "web".into(),
    ))
    .hint("build the image first")
    .unwrap_err();
    assert!(render(&err).ends_with("\n\nhint: build the image first"));
}

#[test]
fn a_trust_refusal_is_one_error_line_and_one_hint_line() {
    let refusals: Vec<anyhow::Error> = vec![
        driftless_trust::TrustError::WrongApp {
            what: "assignment",
            pinned: "acme".into(),
            found: "globex".into(),
        }
        .into(),
        driftless_trust::TrustError::BelowRollbackFloor {
            version: "1.0.0".into(),
            target: 1,
            floor: 2,
            set_by: Some("3.0.0".into()),
        }
        .into(),
    ];
    for err in refusals {
        let text = render(&err);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("error: "), "{text}");
        assert_eq!(lines[1], "", "{text}");
        assert!(lines[2].starts_with("hint: nothing was pulled"), "{text}");
    }
}
