//! How the Driftless binaries end: one `error: …` line on stderr, then (when there is
//! something to do about it) a blank line and one `hint: …` line, and an exit code that
//! tells scripts what kind of failure it was. The codes are part of the CLI's interface:
//! [`CODES`] is the one list of them, and the README's table is checked against it.

use driftless_client::ClientError;
use std::fmt;
use std::process::ExitCode;

mod codes;
mod hint;

pub use codes::{
    code, markdown_table, ExitCodeInfo, CODES, LICENSE_REFUSAL_CODES, ROLE_REFUSAL_CODES,
};
pub use hint::{hint_of, Hint, HintExt};

/// Input the user must fix; exits with [`code::INVALID_INPUT`].
#[derive(Debug)]
pub struct InvalidInput(pub String);

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

/// Something exists already; exits with [`code::CONFLICT`].
#[derive(Debug)]
pub struct Conflict(pub String);

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Conflict {}

/// An error that carries its own exit code.
#[derive(Debug)]
pub struct Coded(pub u8, pub String);

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Coded {}

#[doc(hidden)]
pub use anyhow as __anyhow;

/// Returns early with an [`InvalidInput`] error; `refuse!(hint = "…"; "fmt", args)`
/// adds a [`Hint`].
#[macro_export]
macro_rules! refuse {
    (hint = $hint:expr; $($arg:tt)*) => {
        return Err($crate::__anyhow::Error::from($crate::InvalidInput(format!($($arg)*)))
            .context($crate::Hint(($hint).into())))
    };
    ($($arg:tt)*) => {
        return Err($crate::InvalidInput(format!($($arg)*)).into())
    };
}

/// The exit code for an error, from the first cause in its chain that has one.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    // A code given as context wins (anyhow finds context values only this way).
    if let Some(Coded(c, _)) = err.downcast_ref::<Coded>() {
        return *c;
    }
    for cause in err.chain() {
        if cause.is::<InvalidInput>() || cause.is::<driftless_descriptor::DescriptorError>() {
            return code::INVALID_INPUT;
        }
        if let Some(Coded(c, _)) = cause.downcast_ref::<Coded>() {
            return *c;
        }
        if cause.is::<Conflict>() {
            return code::CONFLICT;
        }
        if let Some(e) = cause.downcast_ref::<ClientError>() {
            return match e {
                ClientError::Unreachable { .. } => code::UNREACHABLE,
                ClientError::Malformed { .. } | ClientError::TooLarge { .. } => code::PROTOCOL,
                ClientError::Api { code, .. } if code == "support_bundle_too_large" => {
                    code::SUPPORT_BUNDLE_TOO_LARGE
                }
                ClientError::Api { code, .. } if code == "gate_refused" => code::GATE_REFUSED,
                ClientError::Api { code, .. }
                    if crate::codes::ROLE_REFUSAL_CODES.contains(&code.as_str()) =>
                {
                    code::ROLE_REFUSED
                }
                ClientError::Api { code, .. }
                    if crate::codes::LICENSE_REFUSAL_CODES.contains(&code.as_str()) =>
                {
                    code::LICENSE_REFUSED
                }
                ClientError::Api { status, .. } => match status {
                    400 | 422 => code::INVALID_INPUT,
                    401 | 403 => code::UNAUTHORIZED,
                    404 => code::NOT_FOUND,
                    409 => code::CONFLICT,
                    _ => code::FAILURE,
                },
            };
        }
        if cause.is::<driftless_oci::OciError>() {
            return code::REGISTRY;
        }
        if let Some(e) = cause.downcast_ref::<driftless_trust::TrustError>() {
            return match e {
                driftless_trust::TrustError::WrongApp { .. } => code::WRONG_APP,
                driftless_trust::TrustError::BelowRollbackFloor { .. } => {
                    code::BELOW_ROLLBACK_FLOOR
                }
                _ => code::VERIFICATION,
            };
        }
        if let Some(e) = cause.downcast_ref::<driftless_runtime::RuntimeError>() {
            return match e {
                driftless_runtime::RuntimeError::Pull { .. } => code::REGISTRY,
                _ => code::RUNTIME,
            };
        }
    }
    code::FAILURE
}

/// The error as one line: every cause, outermost first, joined by `: `.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        // A `Hint` given as context has no text of its own.
        if text.is_empty() {
            continue;
        }
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}

/// The error as a person reads it: `error: …`, and, when there is something to do
/// about it, a blank line and `hint: …`. No trailing newline.
pub fn render(err: &anyhow::Error) -> String {
    match hint_of(err) {
        Some(hint) => format!(
            "error: {}\n\nhint: {}",
            one_line(err),
            hint.replace('\n', " ")
        ),
        None => format!("error: {}", one_line(err)),
    }
}

/// Prints the error (see [`render`]) on stderr and returns its exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("{}", render(err));
    ExitCode::from(exit_code(err))
}

/// Runs a binary's async body on a fresh multi-thread runtime and turns its outcome into
/// an exit code.
pub fn run_async(body: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    block_on(tokio::runtime::Runtime::new(), body)
}

/// Like [`run_async`], on a runtime that runs every task on the calling thread: for a
/// binary that does one thing at a time, it saves the worker threads and their memory.
pub fn run_async_current_thread(
    body: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    block_on(runtime, body)
}

fn block_on(
    runtime: std::io::Result<tokio::runtime::Runtime>,
    body: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => return report(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    match runtime.block_on(body) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}
