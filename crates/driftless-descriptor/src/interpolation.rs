//! Finding the `$` interpolations compose performs on a compose file's values.
//!
//! Grammar (the intersection compose 1.29 and v2 accept, plus v2's nesting): `$$` is a
//! literal dollar; `$NAME`; `${NAME}`; `${NAME<op>text}` with `<op>` one of `:-`, `-`,
//! `:?`, `?`, `:+`, `+`, where `text` may itself contain interpolations. `NAME` is
//! `[A-Za-z_][A-Za-z0-9_]*`. Any other `$` is refused: compose 1.29 rejects it.

/// One malformed interpolation inside a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    /// The offending text, from its `$` (truncated for display).
    pub text: String,
}

/// Appends every variable `s` interpolates to `out`, or says where `s` is malformed.
pub(crate) fn scan(s: &str, out: &mut Vec<String>) -> Result<(), Malformed> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        i = scan_dollar(s, i, out)?;
    }
    Ok(())
}

/// Scans the interpolation starting at the `$` at `start`; returns the index after it.
fn scan_dollar(s: &str, start: usize, out: &mut Vec<String>) -> Result<usize, Malformed> {
    let bytes = s.as_bytes();
    let malformed = || Malformed {
        text: s[start..].chars().take(40).collect(),
    };
    match bytes.get(start + 1) {
        Some(b'$') => Ok(start + 2),
        Some(b'{') => {
            let name_start = start + 2;
            let name_end = name_end(bytes, name_start).ok_or_else(malformed)?;
            out.push(s[name_start..name_end].to_string());
            let rest = &bytes[name_end..];
            let op_len = if rest.starts_with(b"}") {
                return Ok(name_end + 1);
            } else if rest.starts_with(b":-") || rest.starts_with(b":?") || rest.starts_with(b":+")
            {
                2
            } else if rest.starts_with(b"-") || rest.starts_with(b"?") || rest.starts_with(b"+") {
                1
            } else {
                return Err(malformed());
            };
            let text_start = name_end + op_len;
            let close = matching_brace(bytes, text_start).ok_or_else(malformed)?;
            scan(&s[text_start..close], out)?;
            Ok(close + 1)
        }
        Some(_) => {
            let end = name_end(bytes, start + 1).ok_or_else(malformed)?;
            out.push(s[start + 1..end].to_string());
            Ok(end)
        }
        None => Err(malformed()),
    }
}

/// `s` with every interpolation replaced as compose would, `lookup` giving a variable's
/// value (`None`: unset). `${NAME:-text}`/`${NAME-text}` fall back to `text`; the other
/// operators (`?`, `+`) read as `${NAME}`. Returns the first unset variable without a
/// fallback, or the malformed text, as the error.
pub fn interpolate(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let Some(rel) = s[i..].find('$') else {
            out.push_str(&s[i..]);
            break;
        };
        out.push_str(&s[i..i + rel]);
        i += rel;
        let malformed = || {
            format!(
                "malformed `{}`",
                s[i..].chars().take(40).collect::<String>()
            )
        };
        match bytes.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let end = name_end(bytes, i + 2).ok_or_else(malformed)?;
                let name = &s[i + 2..end];
                let close = if bytes.get(end) == Some(&b'}') {
                    end
                } else {
                    matching_brace(bytes, end).ok_or_else(malformed)?
                };
                let op = &s[end..close];
                let fallback = op.strip_prefix(":-").or_else(|| op.strip_prefix('-'));
                let value = lookup(name).filter(|v| !(v.is_empty() && op.starts_with(':')));
                match (value, fallback) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(text)) => out.push_str(&interpolate(text, lookup)?),
                    (None, None) => return Err(name.to_string()),
                }
                i = close + 1;
            }
            _ => {
                let end = name_end(bytes, i + 1).ok_or_else(malformed)?;
                let name = &s[i + 1..end];
                out.push_str(&lookup(name).ok_or_else(|| name.to_string())?);
                i = end;
            }
        }
    }
    Ok(out)
}

/// The end of a `[A-Za-z_][A-Za-z0-9_]*` name starting at `from`, if there is one.
fn name_end(bytes: &[u8], from: usize) -> Option<usize> {
    let first = *bytes.get(from)?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let len = bytes[from..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    Some(from + len)
}

/// The index of the `}` closing a `${` whose body starts at `from`, skipping `$$` and
/// nested `${...}`.
fn matching_brace(bytes: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vars(s: &str) -> Result<Vec<String>, Malformed> {
        let mut out = Vec::new();
        scan(s, &mut out).map(|()| out)
    }

    #[test]
    fn finds_every_form() {
        let found =
            vars("$A ${B} ${C:-x} ${D-x} ${E:?err} ${F?err} ${G:+y} ${H+y} $I_2.x").unwrap();
        assert_eq!(found, ["A", "B", "C", "D", "E", "F", "G", "H", "I_2"]);
    }

    #[test]
    fn double_dollar_is_an_escape() {
        assert_eq!(vars("$$A $${B} cost: $$5").unwrap(), Vec::<String>::new());
        assert_eq!(vars("$$$A").unwrap(), ["A"]);
    }

    #[test]
    fn nested_defaults_are_scanned() {
        assert_eq!(vars("${A:-${B:-$C}}/x").unwrap(), ["A", "B", "C"]);
    }

    #[test]
    fn values_and_fallbacks_are_substituted() {
        let lookup = |n: &str| (n == "A").then(|| "1".to_string());
        assert_eq!(interpolate("x${A}y$A $$", &lookup).unwrap(), "x1y1 $");
        assert_eq!(interpolate("${B:-${A}0}", &lookup).unwrap(), "10");
        assert_eq!(interpolate("${B}", &lookup).unwrap_err(), "B");
        assert!(interpolate("${A", &lookup).is_err());
    }

    #[test]
    fn malformed_forms_are_refused() {
        for bad in [
            "$", "cost $5", "${}", "${1A}", "${A", "${A:-x", "${A!}", "a $ b",
        ] {
            assert!(vars(bad).is_err(), "{bad} should be refused");
        }
    }
}
