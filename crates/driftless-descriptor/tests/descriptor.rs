//! Behaviour of the descriptor crate as the vendor CLI and the customer CLI use it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use driftless_descriptor::{
    is_pinned, render_env_file, render_for_host, validate_value, verify_against_release,
    ComposeFile, DescriptorError, ServiceImage, ENV_FILE_HEADER, MAX_DESCRIPTOR_BYTES,
};
use driftless_wire::release::{
    ConfigType, ConfigVar, DescriptorRef, HealthSpec, ReleaseDocument, ReleaseImage,
};
use driftless_wire::Digest;
use serde_norway::Value;

const VENDOR_FILE: &str = r#"
x-driftless:
  config:
    - name: HTTP_PORT
      type: port
      default: 8080
      description: Port the web UI listens on
    - name: DB_PASSWORD
      type: string
      secret: true
      required: true
    - name: DEBUG
      type: boolean
      default: false
x-common: &common
  restart: unless-stopped
  environment:
    FEATURE: "yes"
services:
  web:
    <<: *common
    image: acme/web:1.4
    build: ./web
    ports:
      - "${HTTP_PORT}:80"
      - "3000:30"
    command: ["sh", "-c", "echo $$HOME"]
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD:?set a password}
      LOG_DEBUG: ${DEBUG-false}
volumes:
  data: {}
"#;

fn digest_of(name: &str) -> Digest {
    Digest::of(name.as_bytes())
}

fn pins() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("web".to_string(), format!("acme/web@{}", digest_of("web"))),
        ("db".to_string(), format!("acme/db@{}", digest_of("db"))),
    ])
}

fn parse(yaml: &str) -> Result<ComposeFile, DescriptorError> {
    ComposeFile::parse(yaml.as_bytes())
}

fn vendor() -> ComposeFile {
    parse(VENDOR_FILE).unwrap()
}

fn pinned_bytes() -> Vec<u8> {
    vendor().pin_images(&pins()).unwrap()
}

fn release_for(descriptor: &[u8]) -> ReleaseDocument {
    let image = |service: &str, repository: &str| ReleaseImage {
        service: service.to_string(),
        repository: repository.to_string(),
        digest: digest_of(service),
        platforms: vec!["linux/amd64".to_string()],
        size: 1000,
    };
    ReleaseDocument {
        doc_type: "release".to_string(),
        app: "acme".to_string(),
        version: semver::Version::new(1, 4, 0),
        release_counter: 7,
        created_at: 1_700_000_000,
        expires: 1_800_000_000,
        images: vec![image("web", "acme/web"), image("db", "acme/db")],
        descriptor: DescriptorRef {
            repository: "acme/compose".to_string(),
            manifest_digest: digest_of("manifest"),
            digest: Digest::of(descriptor),
            size: descriptor.len() as u64,
        },
        config_schema: vendor().config_schema().unwrap(),
        health: HealthSpec::default(),
        min_cli_version: semver::Version::new(0, 1, 0),
        rollback_floor: 0,
        cli: Vec::new(),
        notes: None,
        urgent: false,
        migrations: Default::default(),
        preflight: Default::default(),
        sboms: Vec::new(),
    }
}

fn var(name: &str, kind: ConfigType) -> ConfigVar {
    ConfigVar {
        name: name.to_string(),
        kind,
        default: None,
        required: false,
        secret: false,
        description: None,
    }
}

fn yaml_of(bytes: &[u8]) -> Value {
    serde_norway::from_slice(bytes).unwrap()
}

// ---- parse ----

#[test]
fn services_come_in_file_order_with_their_images() {
    assert_eq!(
        vendor().services(),
        vec![
            ServiceImage {
                service: "web".into(),
                image: "acme/web:1.4".into()
            },
            ServiceImage {
                service: "db".into(),
                image: "postgres:16".into()
            },
        ]
    );
}

#[test]
fn build_only_service_is_refused_with_the_reason() {
    let err = parse("services:\n  web:\n    build: .\n").unwrap_err();
    assert_eq!(err, DescriptorError::MissingImage("web".into()));
    assert_eq!(err.to_string(), "service `web` has no image");
    assert_eq!(
        err.hint().as_deref(),
        Some("publish needs an image built on this machine: give the service an `image:`")
    );
}

#[test]
fn files_that_are_not_compose_files_are_refused() {
    for bad in [
        "",
        "- a\n- b\n",
        "version: '3'\n",
        "services: [web]\n",
        "services: {}\n",
        "services:\n  web: nginx\n",
    ] {
        assert!(
            matches!(parse(bad), Err(DescriptorError::NotCompose(_))),
            "{bad:?} gave {:?}",
            parse(bad)
        );
        let hint = parse(bad).unwrap_err().hint().unwrap_or_default();
        assert!(
            hint.starts_with("declare the app's services under `services:`"),
            "{bad:?}: {hint}"
        );
    }
}

#[test]
fn bad_service_names_and_images_are_refused() {
    assert_eq!(
        parse("services:\n  'we b':\n    image: x\n").unwrap_err(),
        DescriptorError::InvalidServiceName("we b".into())
    );
    assert!(matches!(
        parse("services:\n  web:\n    image: 5\n"),
        Err(DescriptorError::InvalidImage { service, .. }) if service == "web"
    ));
    assert!(matches!(
        parse("services:\n  web:\n    image: ''\n"),
        Err(DescriptorError::InvalidImage { .. })
    ));
    assert_eq!(
        parse("services:\n  web:\n    image:\n").unwrap_err(),
        DescriptorError::MissingImage("web".into())
    );
}

#[test]
fn invalid_yaml_duplicate_keys_and_extra_documents_are_refused() {
    for bad in [
        "services: [\n",
        "services:\n  web:\n    image: a\n  web:\n    image: b\n",
        "services:\n  web:\n    image: a\n---\nservices: {}\n",
        "services:\n  web:\n    image: *nope\n",
    ] {
        assert!(
            matches!(parse(bad), Err(DescriptorError::Yaml(_))),
            "{bad:?} gave {:?}",
            parse(bad)
        );
    }
    assert!(matches!(
        ComposeFile::parse(b"services:\n  \xff: x\n"),
        Err(DescriptorError::Yaml(_))
    ));
}

#[test]
fn oversized_descriptor_is_refused_before_parsing() {
    let big = vec![b' '; MAX_DESCRIPTOR_BYTES as usize + 1];
    assert_eq!(
        ComposeFile::parse(&big).unwrap_err(),
        DescriptorError::TooLarge {
            size: MAX_DESCRIPTOR_BYTES + 1,
            max: MAX_DESCRIPTOR_BYTES
        }
    );
}

#[test]
fn billion_laughs_is_refused_not_expanded() {
    let mut yaml = String::from("a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        yaml.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    yaml.push_str("services:\n  web:\n    image: x\n");
    assert!(matches!(
        parse(&yaml),
        Err(DescriptorError::TooComplex { .. })
    ));
}

#[test]
fn wide_alias_fan_out_is_refused() {
    // One big anchored list referenced many times: few alias jumps, a huge tree.
    let big = vec!["1"; 20_000].join(",");
    let refs = vec!["*big"; 20_000].join(",");
    let yaml = format!("x-big: &big [{big}]\nx-refs: [{refs}]\nservices:\n  web:\n    image: x\n");
    assert!(yaml.len() < MAX_DESCRIPTOR_BYTES as usize);
    assert!(matches!(
        parse(&yaml),
        Err(DescriptorError::TooComplex { .. })
    ));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let yaml = format!(
        "services:\n  web:\n    image: x\nx-deep: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(matches!(parse(&yaml), Err(DescriptorError::Yaml(_))));
}

#[test]
fn merge_keys_keep_the_file_order_and_explicit_keys_win() {
    let file = parse(
        "x-base: &base\n  restart: always\n  user: app\nservices:\n  web:\n    <<: *base\n    image: acme/web:1\n    user: root\n    ports: []\n",
    )
    .unwrap();
    let pins = BTreeMap::from([("web".to_string(), format!("acme/web@{}", digest_of("web")))]);
    let doc: serde_norway::Mapping =
        serde_norway::from_slice(&file.pin_images(&pins).unwrap()).unwrap();
    let web = doc["services"]["web"].as_mapping().unwrap();
    let keys: Vec<&str> = web.keys().filter_map(Value::as_str).collect();
    assert_eq!(keys, ["restart", "image", "user", "ports"]);
    assert_eq!(web["user"], Value::String("root".into()));
    assert!(matches!(
        parse("x: &a 1\nservices:\n  web:\n    <<: *a\n    image: x\n"),
        Err(DescriptorError::Yaml(_))
    ));
}

#[test]
fn host_rendering_keeps_service_key_order() {
    let bytes = pinned_bytes();
    let file = ComposeFile::parse(&bytes).unwrap();
    let doc: serde_norway::Mapping =
        serde_norway::from_slice(&render_for_host(&file, "localhost:5000").unwrap()).unwrap();
    let keys: Vec<&str> = doc["services"]["web"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        keys,
        ["restart", "environment", "image", "ports", "command"]
    );
    let top: Vec<&str> = doc.keys().filter_map(Value::as_str).collect();
    assert_eq!(top, ["x-common", "services", "volumes"]);
}

#[test]
fn merge_keys_supply_images() {
    let file =
        parse("x-base: &base\n  image: acme/web:1\nservices:\n  web:\n    <<: *base\n").unwrap();
    assert_eq!(file.services()[0].image, "acme/web:1");
}

#[test]
fn compose_v2_tags_survive_rewriting() {
    let yaml = "services:\n  web:\n    image: x\n    ports: !reset []\n    env: !override {A: b}\n";
    let file = parse(yaml).unwrap();
    let mut p = BTreeMap::new();
    p.insert("web".to_string(), format!("acme/web@{}", digest_of("web")));
    let text = String::from_utf8(file.pin_images(&p).unwrap()).unwrap();
    assert!(text.contains("\"ports\": !reset []"), "{text}");
    assert!(text.contains("\"env\": !override {\"A\": \"b\"}"), "{text}");
}

// ---- config schema ----

#[test]
fn schema_is_read_with_typed_defaults() {
    let schema = vendor().config_schema().unwrap();
    assert_eq!(schema.len(), 3);
    assert_eq!(
        schema[0],
        ConfigVar {
            name: "HTTP_PORT".into(),
            kind: ConfigType::Port,
            default: Some("8080".into()),
            required: false,
            secret: false,
            description: Some("Port the web UI listens on".into()),
        }
    );
    assert!(schema[1].secret && schema[1].required && schema[1].default.is_none());
    assert_eq!(schema[2].default.as_deref(), Some("false"));
}

#[test]
fn file_without_x_driftless_has_an_empty_schema() {
    assert_eq!(
        parse("services:\n  web:\n    image: x\n")
            .unwrap()
            .config_schema()
            .unwrap(),
        vec![]
    );
}

fn schema_err(config: &str) -> DescriptorError {
    parse(&format!(
        "x-driftless:\n  config:\n{config}services:\n  web:\n    image: x\n"
    ))
    .unwrap()
    .config_schema()
    .unwrap_err()
}

#[test]
fn every_schema_error_is_caught() {
    assert_eq!(
        schema_err("    - {name: http_port, type: port}\n"),
        DescriptorError::InvalidVariableName("http_port".into())
    );
    assert_eq!(
        schema_err("    - {name: 1PORT, type: port}\n"),
        DescriptorError::InvalidVariableName("1PORT".into())
    );
    assert_eq!(
        schema_err("    - {name: PORT, type: port}\n    - {name: PORT, type: string}\n"),
        DescriptorError::DuplicateVariable("PORT".into())
    );
    assert!(matches!(
        schema_err("    - {name: PORT, type: port, default: 70000}\n"),
        DescriptorError::InvalidDefault { name, kind: "port", .. } if name == "PORT"
    ));
    assert!(matches!(
        schema_err("    - {name: ON, type: boolean, default: 'yes'}\n"),
        DescriptorError::InvalidDefault {
            kind: "boolean",
            ..
        }
    ));
    assert!(matches!(
        schema_err("    - {name: N, type: integer, default: '1.5'}\n"),
        DescriptorError::InvalidDefault {
            kind: "integer",
            ..
        }
    ));
    assert_eq!(
        schema_err("    - {name: PW, type: string, secret: true, default: hunter2}\n"),
        DescriptorError::SecretWithDefault("PW".into())
    );
    for bad in [
        "    - {name: A, type: int}\n",
        "    - {name: A, type: string, requried: true}\n",
        "    - {type: string}\n",
        "    - {name: A, type: string, default: 1.5}\n",
        "    - {name: A, type: string, default: [1]}\n",
    ] {
        assert!(
            matches!(schema_err(bad), DescriptorError::InvalidSchema { .. }),
            "{bad}"
        );
    }
    let non_scalar = schema_err("    - {name: A, type: string, default: [1]}\n");
    assert_eq!(
        non_scalar.to_string(),
        "x-driftless is invalid: config[0] (`A`): default must be a string, whole number or boolean"
    );
    assert_eq!(non_scalar.hint().as_deref(), Some("quote it"));
    let unknown_top =
        parse("x-driftless:\n  confg: []\nservices:\n  web:\n    image: x\n").unwrap();
    let err = unknown_top.config_schema().unwrap_err();
    assert!(matches!(err, DescriptorError::InvalidSchema { .. }));
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("config: [ {name, type, ...} ]")),
        "{err:?}"
    );
}

// ---- variables ----

#[test]
fn variables_used_finds_every_form_and_skips_escapes() {
    assert_eq!(
        vendor().variables_used(),
        ["HTTP_PORT", "DB_PASSWORD", "DEBUG"]
    );
    let file = parse(
        "x-driftless:\n  config:\n    - {name: IGNORED, type: string, description: costs $5}\nservices:\n  web:\n    image: x\n    environment:\n      - A=$A\n      - B=${B:-x}\n      - C=${C?err}\n      - D=$$D\n      - E=${E:?e}${F-f}\n",
    )
    .unwrap();
    assert_eq!(file.variables_used(), ["A", "B", "C", "E", "F"]);
}

#[test]
fn declared_variables_pass_and_undeclared_ones_are_named() {
    vendor().check_variables_declared().unwrap();
    let file =
        parse("services:\n  web:\n    image: x\n    environment:\n      TOKEN: ${API_TOKEN}\n")
            .unwrap();
    let err = file.check_variables_declared().unwrap_err();
    assert_eq!(
        err,
        DescriptorError::UndeclaredVariable {
            name: "API_TOKEN".into(),
            location: "services.web.environment.TOKEN".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "variable `API_TOKEN` is used at services.web.environment.TOKEN but not declared"
    );
    assert_eq!(
        err.hint().as_deref(),
        Some("declare it under x-driftless.config")
    );
}

#[test]
fn malformed_interpolation_is_refused_with_a_hint() {
    let file = parse("services:\n  web:\n    image: x\n    command: echo costs $5\n").unwrap();
    let err = file.check_variables_declared().unwrap_err();
    assert!(
        matches!(&err, DescriptorError::BadInterpolation { location, .. } if location == "services.web.command")
    );
    assert!(err.hint().is_some_and(|h| h.contains("`$$`")), "{err:?}");
}

// ---- pinning ----

#[test]
fn pinning_replaces_every_image_and_keeps_the_rest() {
    let bytes = pinned_bytes();
    let pinned = ComposeFile::parse(&bytes).unwrap();
    let images: Vec<String> = pinned.services().into_iter().map(|s| s.image).collect();
    assert_eq!(images, [pins()["web"].clone(), pins()["db"].clone()]);
    assert_eq!(
        pinned.config_schema().unwrap(),
        vendor().config_schema().unwrap()
    );
    let doc = yaml_of(&bytes);
    let web = &doc["services"]["web"];
    // Strings YAML 1.1 would read as a boolean or a base-60 number stay strings.
    assert_eq!(web["environment"]["FEATURE"], Value::String("yes".into()));
    assert_eq!(web["ports"][1], Value::String("3000:30".into()));
    assert_eq!(web["restart"], Value::String("unless-stopped".into()));
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains("\"FEATURE\": \"yes\""), "{text}");
    assert!(text.contains("\"3000:30\""), "{text}");
    // Deterministic: the release signs these bytes' digest.
    assert_eq!(bytes, pinned_bytes());
    assert_eq!(pinned.pin_images(&pins()).unwrap(), bytes);
}

#[test]
fn pinning_needs_a_valid_pin_for_every_service_and_no_others() {
    let mut missing = pins();
    missing.remove("db");
    assert_eq!(
        vendor().pin_images(&missing).unwrap_err(),
        DescriptorError::MissingPin("db".into())
    );

    let mut extra = pins();
    extra.insert("cache".into(), format!("acme/cache@{}", digest_of("cache")));
    assert_eq!(
        vendor().pin_images(&extra).unwrap_err(),
        DescriptorError::UnknownPinService("cache".into())
    );

    for bad in [
        "acme/web:1.4".to_string(),
        "acme/web@sha256:abc".to_string(),
        format!("127.0.0.1:5000/acme/web@{}", digest_of("web")),
        format!("acme/_web@{}", digest_of("web")),
        format!("acme/web:1.4@{}", digest_of("web")),
    ] {
        let mut p = pins();
        p.insert("web".into(), bad.clone());
        assert!(
            matches!(vendor().pin_images(&p), Err(DescriptorError::InvalidPin { service, .. }) if service == "web"),
            "{bad}"
        );
    }
}

// ---- verify_against_release ----

#[test]
fn pinned_descriptor_verifies_against_its_release() {
    let bytes = pinned_bytes();
    let file = verify_against_release(&bytes, &release_for(&bytes)).unwrap();
    assert!(file.services().iter().all(|s| is_pinned(&s.image)));
}

#[test]
fn tampered_descriptor_bytes_are_refused() {
    let bytes = pinned_bytes();
    let release = release_for(&bytes);
    let tampered = String::from_utf8(bytes).unwrap().replace(
        &digest_of("web").to_string(),
        &digest_of("evil").to_string(),
    );
    let err = verify_against_release(tampered.as_bytes(), &release).unwrap_err();
    assert!(
        matches!(err, DescriptorError::DescriptorMismatch(_)),
        "{err}"
    );
}

#[test]
fn image_digest_other_than_the_signed_one_is_refused() {
    // Even when the descriptor digest matches (a release signed over the wrong file),
    // each image must be the one the release names.
    let mut p = pins();
    p.insert("web".into(), format!("acme/web@{}", digest_of("evil")));
    let bytes = vendor().pin_images(&p).unwrap();
    let err = verify_against_release(&bytes, &release_for(&bytes)).unwrap_err();
    assert_eq!(
        err,
        DescriptorError::ImageMismatch {
            service: "web".into(),
            expected: format!("acme/web@{}", digest_of("web")),
            found: format!("acme/web@{}", digest_of("evil")),
        }
    );
}

#[test]
fn unpinned_descriptor_is_refused() {
    let bytes = VENDOR_FILE.as_bytes();
    assert!(matches!(
        verify_against_release(bytes, &release_for(bytes)),
        Err(DescriptorError::ImageMismatch { .. })
    ));
}

#[test]
fn schema_other_than_the_signed_one_is_refused() {
    let bytes = pinned_bytes();
    let mut release = release_for(&bytes);
    release.config_schema[1].secret = false;
    let err = verify_against_release(&bytes, &release).unwrap_err();
    assert_eq!(
        err,
        DescriptorError::SchemaMismatch("variable `DB_PASSWORD` is declared differently".into())
    );

    release.config_schema.pop();
    assert!(matches!(
        verify_against_release(&bytes, &release),
        Err(DescriptorError::SchemaMismatch(_))
    ));
}

#[test]
fn jobs_other_than_the_signed_ones_are_refused() {
    // A release that says `db` is a job while its descriptor runs `db` as a service (or
    // the reverse) would let the host skip or run what the vendor did not sign.
    let bytes = pinned_bytes();
    let mut release = release_for(&bytes);
    assert!(verify_against_release(&bytes, &release).is_ok());
    release.migrations.pre_upgrade = vec!["db".to_string()];
    assert_eq!(
        verify_against_release(&bytes, &release).unwrap_err(),
        DescriptorError::SchemaMismatch(
            "x-driftless jobs or data_volumes differ from the release's".into()
        )
    );
}

#[test]
fn service_sets_must_match() {
    let bytes = pinned_bytes();
    let mut release = release_for(&bytes);
    release.images.push(ReleaseImage {
        service: "cache".into(),
        repository: "acme/cache".into(),
        digest: digest_of("cache"),
        platforms: vec![],
        size: 0,
    });
    let err = verify_against_release(&bytes, &release).unwrap_err();
    assert!(
        matches!(&err, DescriptorError::ServicesMismatch(m) if m.contains("cache")),
        "{err}"
    );

    let mut release = release_for(&bytes);
    release.images.pop();
    let err = verify_against_release(&bytes, &release).unwrap_err();
    assert!(
        matches!(&err, DescriptorError::ServicesMismatch(m) if m.contains("db")),
        "{err}"
    );

    let mut release = release_for(&bytes);
    let dup = release.images[0].clone();
    release.images.push(dup);
    assert!(matches!(
        verify_against_release(&bytes, &release),
        Err(DescriptorError::ServicesMismatch(_))
    ));
}

#[test]
fn verify_refuses_undeclared_variables() {
    let yaml = format!(
        "services:\n  web:\n    image: acme/web@{}\n    environment:\n      HOME_DIR: $HOME\n",
        digest_of("web")
    );
    let mut release = release_for(yaml.as_bytes());
    release.images.truncate(1);
    release.config_schema.clear();
    assert!(matches!(
        verify_against_release(yaml.as_bytes(), &release),
        Err(DescriptorError::UndeclaredVariable { name, .. }) if name == "HOME"
    ));
}

// ---- render_for_host ----

#[test]
fn host_rendering_prefixes_registry_and_drops_driftless_and_build() {
    let bytes = pinned_bytes();
    let file = verify_against_release(&bytes, &release_for(&bytes)).unwrap();
    let rendered = render_for_host(&file, "127.0.0.1:5000").unwrap();
    let doc = yaml_of(&rendered);
    assert_eq!(
        doc["services"]["web"]["image"],
        Value::String(format!("127.0.0.1:5000/acme/web@{}", digest_of("web")))
    );
    assert_eq!(
        doc["services"]["db"]["image"],
        Value::String(format!("127.0.0.1:5000/acme/db@{}", digest_of("db")))
    );
    assert!(doc.get("x-driftless").is_none());
    assert!(doc["services"]["web"].get("build").is_none());
    assert!(doc.get("x-common").is_some());
    assert_eq!(
        doc["services"]["db"]["environment"]["POSTGRES_PASSWORD"],
        Value::String("${DB_PASSWORD:?set a password}".into())
    );
    assert_eq!(
        doc["services"]["web"]["command"][2],
        Value::String("echo $$HOME".into())
    );
}

#[test]
fn host_rendering_refuses_unpinned_images_and_bad_hosts() {
    assert!(matches!(
        render_for_host(&vendor(), "127.0.0.1:5000"),
        Err(DescriptorError::NotPinned { service, .. }) if service == "web"
    ));
    let pinned = ComposeFile::parse(&pinned_bytes()).unwrap();
    for bad in [
        "",
        "https://r.example.com",
        "r.example.com/acme",
        "registry",
        "r.example.com:0",
    ] {
        assert_eq!(
            render_for_host(&pinned, bad).unwrap_err(),
            DescriptorError::InvalidRegistryHost(bad.into())
        );
    }
    render_for_host(&pinned, "registry.example.com").unwrap();
}

// ---- validate_value ----

#[test]
fn values_are_checked_against_their_type() {
    let port = var("PORT", ConfigType::Port);
    for ok in ["1", "80", "65535"] {
        validate_value(&port, ok).unwrap();
    }
    for bad in ["0", "65536", "-1", "+80", "080", "eighty", ""] {
        assert!(validate_value(&port, bad).is_err(), "{bad}");
    }
    let int = var("N", ConfigType::Integer);
    for ok in ["0", "-7", "9223372036854775807"] {
        validate_value(&int, ok).unwrap();
    }
    for bad in ["9223372036854775808", "1.0", "+1", "01", " 1", ""] {
        assert!(validate_value(&int, bad).is_err(), "{bad}");
    }
    let flag = var("ON", ConfigType::Boolean);
    validate_value(&flag, "true").unwrap();
    validate_value(&flag, "false").unwrap();
    for bad in ["True", "yes", "1", ""] {
        assert!(validate_value(&flag, bad).is_err(), "{bad}");
    }
    let s = var("S", ConfigType::String);
    validate_value(&s, "any thing $ ' \" \t ok").unwrap();
    for bad in ["a\nb", "a\rb", "a\0b"] {
        assert!(validate_value(&s, bad).is_err(), "{bad:?}");
    }
}

#[test]
fn value_errors_name_key_type_and_value_but_hide_secrets() {
    let refused = validate_value(&var("PORT", ConfigType::Port), "70000").unwrap_err();
    let err = refused.to_string();
    assert!(
        err.contains("`PORT`") && err.contains("port") && err.contains("`70000`"),
        "{err}"
    );
    assert_eq!(
        refused.hint().as_deref(),
        Some("set a valid one with `driftless config set PORT=...`")
    );
    let mut secret = var("PW", ConfigType::String);
    secret.secret = true;
    let err = validate_value(&secret, "hunter2\nx")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`PW`") && !err.contains("hunter2"), "{err}");
}

// ---- render_env_file ----

fn schema() -> Vec<ConfigVar> {
    vendor().config_schema().unwrap()
}

fn env(values: &[(&str, &str)]) -> Result<String, DescriptorError> {
    let values = values
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    render_env_file(&schema(), &values)
}

#[test]
fn env_file_has_one_line_per_variable_from_values_or_defaults() {
    let text = env(&[("DB_PASSWORD", "s3cret"), ("DEBUG", "true")]).unwrap();
    assert_eq!(
        text,
        format!("{ENV_FILE_HEADER}\nHTTP_PORT=8080\nDB_PASSWORD=s3cret\nDEBUG=true\n")
    );
}

#[test]
fn optional_variable_without_value_or_default_is_written_empty() {
    let text = render_env_file(&[var("NOTE", ConfigType::String)], &BTreeMap::new()).unwrap();
    assert_eq!(text, format!("{ENV_FILE_HEADER}\nNOTE=\n"));
}

#[test]
fn missing_required_variable_says_how_to_set_it() {
    let err = env(&[]).unwrap_err();
    assert_eq!(err, DescriptorError::MissingRequired("DB_PASSWORD".into()));
    assert_eq!(
        err.to_string(),
        "config variable `DB_PASSWORD` is required and has no value"
    );
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("driftless config set DB_PASSWORD=...")),
        "{err:?}"
    );
}

#[test]
fn unknown_key_is_named() {
    let err = env(&[("DB_PASSWORD", "x"), ("DB_PASWORD", "x")]).unwrap_err();
    assert!(matches!(&err, DescriptorError::UnknownKey { name, .. } if name == "DB_PASWORD"));
    assert!(
        err.to_string().contains("HTTP_PORT, DB_PASSWORD, DEBUG"),
        "{err}"
    );
    assert_eq!(err.hint().as_deref(), Some("unset it or fix the name"));
}

#[test]
fn invalid_value_is_refused_in_the_env_file() {
    assert!(matches!(
        env(&[("DB_PASSWORD", "x"), ("HTTP_PORT", "0")]),
        Err(DescriptorError::InvalidValue { .. })
    ));
}

fn password_line(value: &str) -> Result<String, DescriptorError> {
    let text = env(&[("DB_PASSWORD", value)])?;
    Ok(text
        .lines()
        .find(|l| l.starts_with("DB_PASSWORD="))
        .unwrap_or_default()
        .to_string())
}

#[test]
fn env_values_are_quoted_only_when_needed() {
    assert_eq!(
        password_line("abc-DEF_1.2/x:y@z+w,=%").unwrap(),
        "DB_PASSWORD=abc-DEF_1.2/x:y@z+w,=%"
    );
    assert_eq!(password_line("O'Brien").unwrap(), "DB_PASSWORD=O'Brien");
    assert_eq!(
        password_line("p@ss w0rd #1").unwrap(),
        "DB_PASSWORD='p@ss w0rd #1'"
    );
    assert_eq!(password_line("$HOME").unwrap(), "DB_PASSWORD='$HOME'");
    assert_eq!(password_line(" padded ").unwrap(), "DB_PASSWORD=' padded '");
    assert_eq!(
        password_line("\"quoted\"").unwrap(),
        "DB_PASSWORD='\"quoted\"'"
    );
    assert_eq!(
        password_line("back\\slash x").unwrap(),
        "DB_PASSWORD='back\\slash x'"
    );
    assert_eq!(password_line("ünïcode").unwrap(), "DB_PASSWORD='ünïcode'");
}

#[test]
fn env_values_both_composes_would_misread_are_refused() {
    for bad in ["it's here", "'leading", "a\\\\b c", "ends\\", "x ${HOME} y"] {
        let err = password_line(bad).unwrap_err();
        assert!(
            matches!(&err, DescriptorError::Unrepresentable { name, .. } if name == "DB_PASSWORD"),
            "{bad}: {err}"
        );
        assert!(
            !err.to_string().contains(bad),
            "the value must not be shown: {err}"
        );
    }
}

#[test]
fn env_file_refuses_a_schema_with_bad_names() {
    let err = render_env_file(&[var("A=B", ConfigType::String)], &BTreeMap::new()).unwrap_err();
    assert_eq!(err, DescriptorError::InvalidVariableName("A=B".into()));
}

#[test]
fn error_messages_are_one_lowercase_line() {
    let errors = [
        parse("services:\n  web:\n    build: .\n").unwrap_err(),
        env(&[]).unwrap_err(),
        validate_value(&var("PORT", ConfigType::Port), "x").unwrap_err(),
        schema_err("    - {name: a, type: port}\n"),
    ];
    for err in errors {
        let text = err.to_string();
        assert!(!text.contains('\n') && !text.ends_with('.'), "{text}");
        assert!(
            text.chars().next().is_some_and(|c| !c.is_uppercase()),
            "{text}"
        );
        let hint = err.hint().unwrap_or_default();
        assert!(!hint.contains('\n') && !hint.ends_with('.'), "{hint}");
    }
}

// ---- health ----

fn health_of(block: &str) -> Result<driftless_descriptor::DeclaredHealth, DescriptorError> {
    parse(&format!(
        "x-driftless:\n  health:\n{block}services:\n  web:\n    image: web:1\n"
    ))
    .unwrap()
    .health()
}

#[test]
fn health_settings_are_read_with_the_settle_window() {
    let h = health_of("    timeout_s: 90\n    settle_s: 10\n").unwrap();
    assert_eq!(h.timeout_s, Some(90));
    assert_eq!(h.settle_s, Some(10));
    assert_eq!(h.probe, None);
    let none = parse("services:\n  web:\n    image: web:1\n")
        .unwrap()
        .health()
        .unwrap();
    assert_eq!(none, driftless_descriptor::DeclaredHealth::default());
}

#[test]
fn a_settle_window_as_long_as_the_timeout_is_refused() {
    match health_of("    timeout_s: 10\n    settle_s: 10\n").unwrap_err() {
        DescriptorError::InvalidSchema { reason, .. } => {
            assert!(
                reason.contains("settle_s (10) must be shorter than health.timeout_s (10)"),
                "{reason}"
            );
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
}
