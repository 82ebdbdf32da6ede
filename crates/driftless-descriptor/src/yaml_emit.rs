//! Writing a `serde_norway::Value` back as YAML that compose 1.29 (PyYAML, YAML 1.1) and
//! compose v2 (go-yaml, YAML 1.2) both read exactly as we parsed it.
//!
//! serde_norway's own emitter writes strings such as `yes`, `on` or `3000:30` unquoted, which
//! PyYAML reads as a boolean or a base-60 integer. Here every string is double-quoted with
//! escapes both parsers agree on, so no scalar is ever open to interpretation. The output is
//! deterministic: the same tree always gives the same bytes (the release signs its digest).

use std::fmt::Write as _;

use serde_norway::{Mapping, Number, Value};

use crate::DescriptorError;

/// The YAML text of a document whose root is `root`.
pub(crate) fn emit_document(root: &Mapping) -> Result<String, DescriptorError> {
    let mut out = String::new();
    if root.is_empty() {
        out.push_str("{}\n");
    } else {
        emit_mapping_block(&mut out, root, 0)?;
    }
    Ok(out)
}

fn emit_mapping_block(
    out: &mut String,
    map: &Mapping,
    indent: usize,
) -> Result<(), DescriptorError> {
    for (key, value) in map {
        push_indent(out, indent);
        emit_flow(out, key)?;
        out.push(':');
        emit_block_value(out, value, indent)?;
    }
    Ok(())
}

fn emit_sequence_block(
    out: &mut String,
    seq: &[Value],
    indent: usize,
) -> Result<(), DescriptorError> {
    for item in seq {
        push_indent(out, indent);
        out.push('-');
        match item {
            Value::Mapping(m) if !m.is_empty() => {
                // `- key: value` with the rest of the mapping aligned under the first key.
                let mut body = String::new();
                emit_mapping_block(&mut body, m, indent + 2)?;
                out.push(' ');
                out.push_str(body.get(indent + 2..).unwrap_or_default());
            }
            other => emit_block_value(out, other, indent)?,
        }
    }
    Ok(())
}

/// Emits what follows `key:` or `-`, including the line end.
fn emit_block_value(out: &mut String, value: &Value, indent: usize) -> Result<(), DescriptorError> {
    match value {
        Value::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            emit_mapping_block(out, m, indent + 2)
        }
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            emit_sequence_block(out, s, indent + 2)
        }
        other => {
            out.push(' ');
            emit_flow(out, other)?;
            out.push('\n');
            Ok(())
        }
    }
}

fn emit_flow(out: &mut String, value: &Value) -> Result<(), DescriptorError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_text(n)),
        Value::String(s) => push_quoted(out, s),
        Value::Sequence(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                emit_flow(out, item)?;
            }
            out.push(']');
        }
        Value::Mapping(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                emit_flow(out, k)?;
                out.push_str(": ");
                emit_flow(out, v)?;
            }
            out.push('}');
        }
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.strip_prefix('!').unwrap_or(&tag);
            let plain = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !plain {
                return Err(DescriptorError::Emit(format!(
                    "YAML tag `{tag}` is not a simple local tag like `!reset`"
                )));
            }
            out.push('!');
            out.push_str(name);
            out.push(' ');
            emit_flow(out, &tagged.value)?;
        }
    }
    Ok(())
}

/// Numbers as both YAML 1.1 and 1.2 read them: floats always carry a `.`.
fn number_text(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f.is_nan() {
        ".nan".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.to_string()
    } else {
        // Rust's `Display` for f64 never uses an exponent, which PyYAML would misread.
        let mut text = f.to_string();
        if !text.contains('.') {
            text.push_str(".0");
        }
        text
    }
}

fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_plain_printable(c) => out.push(c),
            c => {
                // Every char that is not plain printable is in the BMP, so `\uXXXX` fits.
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
        }
    }
    out.push('"');
}

/// Characters both parsers take literally inside a double-quoted scalar. Line separators
/// (NEL, U+2028, U+2029) and the BOM are escaped because PyYAML would fold or drop them.
fn is_plain_printable(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}
