//! Distribution's repository name grammar.
//!
//! A name the registry's router does not match is answered with a bare 404, which reads
//! like "no such release"; checking first turns that into a clear refusal.

/// Longest repository name distribution accepts.
const MAX_NAME_LEN: usize = 255;

/// Whether `name` is a repository name distribution accepts: `/`-separated components of
/// `[a-z0-9]+` runs joined by exactly one of `.`, `_`, `__` or one or more `-`.
pub fn valid_repository_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.split('/').all(valid_component)
}

fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let mut i = 0;
    loop {
        let run = alnum_run(&bytes[i..]);
        if run == 0 {
            return false;
        }
        i += run;
        if i == bytes.len() {
            return true;
        }
        let sep = separator_len(&bytes[i..]);
        if sep == 0 {
            return false;
        }
        i += sep;
    }
}

fn alnum_run(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        .count()
}

fn separator_len(bytes: &[u8]) -> usize {
    match bytes {
        [b'_', b'_', ..] => 2,
        [b'_', ..] | [b'.', ..] => 1,
        [b'-', ..] => bytes.iter().take_while(|&&b| b == b'-').count(),
        _ => 0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::valid_repository_name as ok;

    #[test]
    fn accepts_distribution_names() {
        for name in [
            "acme/compose",
            "acme",
            "a/b/c",
            "acme-corp/web.app",
            "my__repo/x_y",
            "a--b/c---d",
            "0/9",
        ] {
            assert!(ok(name), "{name} should be valid");
        }
    }

    #[test]
    fn refuses_what_distribution_answers_with_404() {
        for name in [
            "acme/_compose",
            "Acme/x",
            "",
            "acme/",
            "/acme",
            "acme//x",
            "a___b",
            "a..b",
            "a._b",
            "a-_b",
            "acme/compose-",
            "acme/compose.",
            "acme/com pose",
            "acme:compose",
        ] {
            assert!(!ok(name), "{name:?} should be refused");
        }
        assert!(ok(&"a".repeat(255)));
        assert!(!ok(&"a".repeat(256)));
    }
}
