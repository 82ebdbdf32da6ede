//! Version ordering per ecosystem, for OSV ranges: Debian's for deb packages, SemVer
//! where the versions are SemVer, and otherwise a segment-wise comparison (numbers as
//! numbers) that orders Alpine's `1.2.3-r4` and most other schemes correctly.

use std::cmp::Ordering;

/// Compares `a` and `b` as versions of a package of purl type `kind`.
pub fn compare(kind: &str, a: &str, b: &str) -> Ordering {
    if kind == "deb" {
        return crate::debversion::compare(a, b);
    }
    let semver = |v: &str| semver::Version::parse(v.strip_prefix('v').unwrap_or(v)).ok();
    if !matches!(kind, "apk" | "rpm") {
        if let (Some(x), Some(y)) = (semver(a), semver(b)) {
            return x.cmp(&y);
        }
    }
    segments(a, b)
}

/// Alternating runs of digits (compared as numbers) and other characters (compared
/// as text); a version that runs out first is lower.
fn segments(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let digit = a[0].is_ascii_digit();
        let run = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit() == digit).count();
        let (ra, rb) = (run(a), run(b));
        let o = if digit && rb > 0 {
            crate::debversion::compare_digits(&a[..ra], &b[..rb])
        } else {
            a[..ra].cmp(&b[..rb])
        };
        if o != Ordering::Equal {
            return o;
        }
        (a, b) = (&a[ra..], &b[rb..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_alpine_and_debian() {
        assert_eq!(compare("npm", "4.17.9", "4.17.20"), Ordering::Less);
        assert_eq!(compare("npm", "1.0.0-rc.1", "1.0.0"), Ordering::Less);
        assert_eq!(compare("golang", "v1.2.10", "v1.2.9"), Ordering::Greater);
        assert_eq!(compare("apk", "1.2.3-r10", "1.2.3-r9"), Ordering::Greater);
        assert_eq!(compare("deb", "1.0~rc1", "1.0"), Ordering::Less);
    }
}
