//! No input makes the descriptor parser or anything downstream of it panic.

#![allow(clippy::unwrap_used)]

use driftless_descriptor::{render_for_host, ComposeFile};
use proptest::prelude::*;

fn yamlish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "services:",
        "\n",
        "  ",
        "web:",
        "image:",
        " x",
        "&a",
        "*a",
        "<<:",
        "[",
        "]",
        "{",
        "}",
        ",",
        "-",
        " ",
        "\"",
        "'",
        "$",
        "${A}",
        "$$",
        "!reset",
        "x-driftless:",
        "config:",
        "name:",
        "type:",
        "port",
        "null",
        "1",
        "yes",
        ":",
        "#",
        "\t",
        "\\",
        "é",
    ]);
    prop::collection::vec(atoms, 0..60).prop_map(|parts| parts.concat())
}

fn exercise(bytes: &[u8]) {
    if let Ok(file) = ComposeFile::parse(bytes) {
        let _ = file.services();
        let _ = file.config_schema();
        let _ = file.variables_used();
        let _ = file.check_variables_declared();
        let _ = render_for_host(&file, "127.0.0.1:5000");
        if let Ok(yaml) = file.to_yaml() {
            // What we write reads back as the same tree.
            let again = ComposeFile::parse(&yaml);
            assert_eq!(
                again.as_ref().ok(),
                Some(&file),
                "{}",
                String::from_utf8_lossy(&yaml)
            );
        }
    }
}

/// Arbitrary scalar trees under a valid compose skeleton, written by serde_norway's own
/// emitter: what we write back must parse to the same tree.
fn scalar() -> impl Strategy<Value = serde_norway::Value> {
    use serde_norway::Value;
    prop_oneof![
        any::<String>().prop_map(Value::String),
        "(yes|no|on|off|y|n|~|null|0[0-7]+|[0-9]{1,3}:[0-5][0-9]|1_000|\\.inf|2001-12-14| x |#x)"
            .prop_map(Value::String),
        any::<i64>().prop_map(|i| Value::Number(i.into())),
        any::<f64>().prop_map(|f| Value::Number(f.into())),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn tree() -> impl Strategy<Value = serde_norway::Value> {
    use serde_norway::{Mapping, Value};
    scalar().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Sequence),
            prop::collection::vec((any::<String>(), inner), 0..6).prop_map(|entries| {
                Value::Mapping(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Value::String(k), v))
                        .collect::<Mapping>(),
                )
            }),
        ]
    })
}

proptest! {
    #[test]
    fn written_yaml_reads_back_identically(extra in tree(), key in "[a-z]{1,8}") {
        let mut web = serde_norway::Mapping::new();
        web.insert("image".into(), "acme/web:1".into());
        web.insert(key.into(), extra);
        let mut services = serde_norway::Mapping::new();
        services.insert("web".into(), web.into());
        let mut root = serde_norway::Mapping::new();
        root.insert("services".into(), services.into());
        let text = serde_norway::to_string(&root).unwrap();
        let file = ComposeFile::parse(text.as_bytes()).unwrap();
        let written = file.to_yaml().unwrap();
        prop_assert_eq!(ComposeFile::parse(&written).unwrap(), file, "{}", String::from_utf8_lossy(&written));
    }

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        exercise(&bytes);
    }

    #[test]
    fn yaml_like_text(text in yamlish()) {
        exercise(text.as_bytes());
    }
}
