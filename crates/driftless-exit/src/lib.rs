//! How the Driftless binaries end: one `error: …` line on stderr and an exit code
//! that tells scripts what kind of failure it was. The codes are part of the CLI's
//! interface and documented in the README.

use driftless_client::ClientError;
use std::fmt;
use std::process::ExitCode;

/// Exit codes, stable across releases.
pub mod code {
    /// Something failed that has no code of its own.
    pub const FAILURE: u8 = 1;
    /// The command line is wrong (clap's own code).
    pub const USAGE: u8 = 2;
    /// Input was refused (a file, a value, a name); nothing was changed.
    pub const INVALID_INPUT: u8 = 3;
    /// Something named does not exist (app, channel, customer, release).
    pub const NOT_FOUND: u8 = 4;
    /// It exists already (a version, a name).
    pub const CONFLICT: u8 = 5;
    /// The control plane could not be reached.
    pub const UNREACHABLE: u8 = 6;
    /// Credentials were refused: operator token, license, revoked install.
    pub const UNAUTHORIZED: u8 = 7;
    /// The registry failed: unreachable, refused the token, or bad content.
    pub const REGISTRY: u8 = 8;
    /// A signed document or a digest did not verify; nothing was applied.
    pub const VERIFICATION: u8 = 9;
    /// The container runtime failed (engine, compose, health).
    pub const RUNTIME: u8 = 10;
    /// The control plane answered something malformed.
    pub const PROTOCOL: u8 = 11;
    /// Not enough disk space for a release's images; nothing was pulled.
    pub const DISK_FULL: u8 = 12;
    /// A self-update's new CLI did not run (smoke test); the previous one was restored.
    pub const SELF_UPDATE: u8 = 13;
}

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

/// Returns early with an [`InvalidInput`] error.
#[macro_export]
macro_rules! refuse {
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
        if cause.is::<driftless_trust::TrustError>() {
            return code::VERIFICATION;
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
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}

/// Prints the error and returns its exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", one_line(err));
    ExitCode::from(exit_code(err))
}

/// Runs a binary's async body on a fresh runtime and turns its outcome into an exit code.
pub fn run_async(body: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return report(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    match runtime.block_on(body) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}
