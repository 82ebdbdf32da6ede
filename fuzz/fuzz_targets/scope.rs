//! A registry token scope such as `repository:acme/web:pull,push`: parse, and check
//! that what it parsed to reads back the same.
#![no_main]

use driftless_registry_token::parse_scope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(scope) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(access) = parse_scope(scope) else {
        return;
    };
    assert!(!access.kind.is_empty() && !access.name.is_empty() && !access.actions.is_empty());
    let written = format!(
        "{}:{}:{}",
        access.kind,
        access.name,
        access.actions.join(",")
    );
    assert_eq!(parse_scope(&written).as_ref(), Ok(&access), "{written}");
});
