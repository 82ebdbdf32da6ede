//! What this CLI knows about itself and the host it runs on: its version, the
//! platform, the clock, and where its state lives by default.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::env;

/// This CLI's version: `DRIFTLESS_BUILD_VERSION` at build time (tests build a second,
/// newer CLI with it), else the crate's version.
pub const CLI_VERSION: &str = match option_env!("DRIFTLESS_BUILD_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// This host's platform as `os/arch`.
pub fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

/// `/var/lib/driftless` as root, else `$XDG_STATE_HOME/driftless` (or
/// `~/.local/state/driftless`).
pub fn default_state_dir() -> PathBuf {
    let is_root = rustix::process::geteuid().is_root();
    if is_root {
        return PathBuf::from("/var/lib/driftless");
    }
    match std::env::var_os(env::XDG_STATE_HOME) {
        Some(x) => PathBuf::from(x).join("driftless"),
        None => PathBuf::from(std::env::var_os(env::HOME).unwrap_or_default())
            .join(".local/state/driftless"),
    }
}
