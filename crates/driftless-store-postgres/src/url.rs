//! Database URLs as they may be shown: with the password replaced.

/// The URL with its password (in the user info or a `password=` parameter) replaced
/// by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let mut shown = redact_user_info(url);
    if let Some(query_at) = shown.find('?') {
        let (base, query) = shown.split_at(query_at + 1);
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        shown = format!("{base}{}", params.join("&"));
    }
    shown
}

/// `scheme://user:secret@host/...` as `scheme://user:***@host/...`.
fn redact_user_info(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest_at = scheme_end + 3;
    let rest = &url[rest_at..];
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let user_info = &authority[..at];
    let Some(colon) = user_info.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..rest_at],
        &user_info[..colon],
        &rest[at..]
    )
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redact_url("postgres://app:s3cr%40t@db.example:5432/driftless"),
            "postgres://app:***@db.example:5432/driftless"
        );
        assert_eq!(
            redact_url("postgres://app@127.0.0.1/d?sslmode=require&password=hunter2"),
            "postgres://app@127.0.0.1/d?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("postgres://127.0.0.1:5/d"),
            "postgres://127.0.0.1:5/d"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
