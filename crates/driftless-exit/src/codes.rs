//! The exit codes: constants for code, and [`CODES`], the one list the README's table
//! is generated from (a test fails when the two disagree).

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
    /// It exists already (a version, a name), or the current state refuses the change.
    pub const CONFLICT: u8 = 5;
    /// The control plane could not be reached (for `serve`: its database).
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
    /// The control plane offered a document for another app than the host installed;
    /// nothing was pulled.
    pub const WRONG_APP: u8 = 14;
    /// The assigned release is below the rollback floor of a release the host
    /// verified; nothing was pulled.
    pub const BELOW_ROLLBACK_FLOOR: u8 = 15;
    /// A preflight check of the release failed on this host; nothing was pulled.
    pub const PREFLIGHT_FAILED: u8 = 16;
    /// Values the release requires are not set (`config init` off a terminal).
    pub const CONFIG_MISSING: u8 = 17;
    /// A release's run-once job (`pre_upgrade` or `post_upgrade`) failed; its data
    /// volumes were restored from the snapshot and the previous release brought back.
    pub const JOB_FAILED: u8 = 18;
    /// A support bundle is larger than the control plane accepts; nothing was sent.
    pub const SUPPORT_BUNDLE_TOO_LARGE: u8 = 19;
    /// The audit log failed verification (an entry edited, out of order or missing, or
    /// the log shorter than a checkpoint), or a checkpoint is forged.
    pub const AUDIT_VERIFICATION: u8 = 20;
    /// The license refused it: expired past its grace, no seat left, or a channel it
    /// does not allow.
    pub const LICENSE_REFUSED: u8 = 21;
    /// An air-gap bundle or a status receipt was refused (corrupt, for another
    /// license, older than what the host runs, expired); nothing was applied.
    pub const BUNDLE_REFUSED: u8 = 22;
    /// A channel's promotion gate refused the release (licence, advisory, missing
    /// SBOM, stale OSV data); nothing was changed.
    pub const GATE_REFUSED: u8 = 23;
    /// The caller's role or app scope does not allow it; nothing was changed.
    pub const ROLE_REFUSED: u8 = 24;
}

/// The API error codes of a refusal by the caller's role or app scope (exit code 24).
pub const ROLE_REFUSAL_CODES: [&str; 2] = ["role_not_allowed", "app_out_of_scope"];

/// The API error codes of a refusal by a license's terms (exit code 21).
pub const LICENSE_REFUSAL_CODES: [&str; 3] =
    ["license_expired", "license_no_seat", "channel_not_allowed"];

/// One exit code as the README documents it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitCodeInfo {
    /// The code.
    pub code: u8,
    /// What it means, as the README's table says it.
    pub meaning: &'static str,
}

/// Every exit code either binary uses, in order, with its documented meaning.
pub const CODES: &[ExitCodeInfo] = &[
    ExitCodeInfo {
        code: 0,
        meaning: "success",
    },
    ExitCodeInfo {
        code: code::FAILURE,
        meaning: "any other failure",
    },
    ExitCodeInfo {
        code: code::USAGE,
        meaning: "wrong command line",
    },
    ExitCodeInfo {
        code: code::INVALID_INPUT,
        meaning: "input refused (a file, a value, a name); nothing was changed",
    },
    ExitCodeInfo {
        code: code::NOT_FOUND,
        meaning: "not found (app, channel, customer, release)",
    },
    ExitCodeInfo {
        code: code::CONFLICT,
        meaning: "already exists (a version, a name), or the current state refuses the change (an active or halted rollout, one that changed meanwhile)",
    },
    ExitCodeInfo {
        code: code::UNREACHABLE,
        meaning: "control plane unreachable (for `serve`: its database)",
    },
    ExitCodeInfo {
        code: code::UNAUTHORIZED,
        meaning: "credentials refused (unknown, expired or revoked vendor token, license, revoked install)",
    },
    ExitCodeInfo {
        code: code::REGISTRY,
        meaning: "registry failure (unreachable, token refused, bad content)",
    },
    ExitCodeInfo {
        code: code::VERIFICATION,
        meaning: "a signature or digest did not verify; nothing was applied",
    },
    ExitCodeInfo {
        code: code::RUNTIME,
        meaning: "container runtime failure (engine, compose, health)",
    },
    ExitCodeInfo {
        code: code::PROTOCOL,
        meaning: "malformed answer from the control plane",
    },
    ExitCodeInfo {
        code: code::DISK_FULL,
        meaning: "not enough disk space for the release's images; nothing was pulled",
    },
    ExitCodeInfo {
        code: code::SELF_UPDATE,
        meaning: "self-update: the new CLI failed its smoke test; the previous one was restored",
    },
    ExitCodeInfo {
        code: code::WRONG_APP,
        meaning: "an assignment or release for another app than this host installed was refused; nothing was pulled",
    },
    ExitCodeInfo {
        code: code::BELOW_ROLLBACK_FLOOR,
        meaning: "a release below the rollback floor of a release this host verified was refused; nothing was pulled",
    },
    ExitCodeInfo {
        code: code::PREFLIGHT_FAILED,
        meaning: "a preflight check of the release failed on this host (`driftless preflight` shows which); nothing was pulled",
    },
    ExitCodeInfo {
        code: code::CONFIG_MISSING,
        meaning: "values the release requires are not set (`driftless config init` lists them)",
    },
    ExitCodeInfo {
        code: code::JOB_FAILED,
        meaning: "a release's run-once job failed; its data volumes were restored and the previous release brought back",
    },
    ExitCodeInfo {
        code: code::SUPPORT_BUNDLE_TOO_LARGE,
        meaning: "a support bundle is larger than the control plane accepts; nothing was sent",
    },
    ExitCodeInfo {
        code: code::AUDIT_VERIFICATION,
        meaning: "the audit log failed verification (`driftless-vendor audit verify` names the entry), or a checkpoint is forged; for `driftless sync`: the vendor's audit log no longer extends the checkpoint this host saw (the sync itself completed)",
    },
    ExitCodeInfo {
        code: code::LICENSE_REFUSED,
        meaning: "the license refused it: expired past its grace period, no seat left, or a channel it does not allow",
    },
    ExitCodeInfo {
        code: code::BUNDLE_REFUSED,
        meaning: "an air-gap bundle or status receipt was refused (corrupt, for another license, older than the host runs, expired); nothing was applied",
    },
    ExitCodeInfo {
        code: code::GATE_REFUSED,
        meaning: "a channel's promotion gate refused the release (licence, advisory, missing SBOM, stale OSV data); nothing was changed",
    },
    ExitCodeInfo {
        code: code::ROLE_REFUSED,
        meaning: "your role or app scope does not allow this (the error names the role it needs); nothing was changed",
    },
];

/// The README's exit-code table, as Markdown, generated from [`CODES`].
pub fn markdown_table() -> String {
    let mut out = String::from("| code | meaning |\n|---|---|\n");
    for info in CODES {
        out.push_str(&format!("| {} | {} |\n", info.code, info.meaning));
    }
    out
}
