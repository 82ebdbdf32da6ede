//! What a finished command printed and how it ended, and the assertions end-to-end
//! tests make on it. Exit codes are `driftless_exit::code` values.

use std::process::Output;

/// The command's stdout, lossily decoded.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The command's stderr, lossily decoded.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The exit code, when the command exited with one that fits a `driftless_exit::code`.
pub fn exit_code(out: &Output) -> Option<u8> {
    out.status.code().and_then(|c| u8::try_from(c).ok())
}

/// Asserts the command succeeded, showing its output when it did not.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed with {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

/// Asserts the command exited with `code`.
pub fn assert_code(out: &Output, code: u8, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(i32::from(code)),
        "{what}: wrong exit status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Asserts the command failed with `code` and said why on one `error: …` line.
pub fn assert_exit(out: &Output, code: u8, what: &str) {
    // Shown with --nocapture or when a later assertion fails.
    eprintln!(
        "{what}: exit {:?}: {}",
        out.status.code(),
        stderr(out).trim()
    );
    assert_eq!(
        out.status.code(),
        Some(i32::from(code)),
        "{what}: wrong exit code\nstdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    let errors = stderr(out)
        .lines()
        .filter(|l| l.starts_with("error: "))
        .count();
    assert_eq!(
        errors,
        1,
        "{what}: expected one `error:` line, stderr: {}",
        stderr(out)
    );
}

/// Asserts the command failed with `code`, said why on one `error: …` line and what to
/// do on one `hint: …` line.
pub fn assert_refused_with_hint(out: &Output, code: u8, what: &str) {
    assert_exit(out, code, what);
    let hints = stderr(out)
        .lines()
        .filter(|l| l.starts_with("hint: "))
        .count();
    assert_eq!(
        hints,
        1,
        "{what}: expected one `hint:` line, stderr: {}",
        stderr(out)
    );
}
