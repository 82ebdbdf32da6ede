//! The customer decides when change happens: the update policy (`auto`, `approve`,
//! `window`), the gate a sync passes between "verified" and "apply", and
//! `driftless policy set|show`.
//!
//! Under `approve` and `window` a new release is still checked in, verified and
//! downloaded (so it applies fast), then waits: for `driftless approve` of that exact
//! release digest, or for the next update window in the host's time zone. What runs
//! keeps running and is still repaired when it drifts: that is not a new release.

use std::fmt;
use std::fs;

use anyhow::{Context as _, Result};
use driftless_exit::HintExt as _;
use driftless_wire::checkin::WaitingRelease;
use driftless_wire::release::ReleaseDocument;
use driftless_wire::status::{Reason, ReasonCode};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::files::write_atomic;
use crate::state::{StateDir, SyncRecord};
use crate::sync::{Ctx, SyncOutcome};
use crate::window::{self, Window};

/// When a new release may be applied on this host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// As soon as it is assigned (the default).
    #[default]
    Auto,
    /// Downloaded and verified, then applied after `driftless approve`.
    Approve,
    /// Downloaded and verified, then applied inside one of these weekly windows.
    Window(Vec<Window>),
}

impl Policy {
    /// The mode's name: `auto`, `approve` or `window`.
    pub fn mode(&self) -> &'static str {
        match self {
            Policy::Auto => "auto",
            Policy::Approve => "approve",
            Policy::Window(_) => "window",
        }
    }

    /// The policy from `config.toml`'s `[policy]` table (absent: `auto`).
    pub fn from_config(mode: Option<&str>, windows: Option<&str>) -> Result<Policy> {
        match (mode.unwrap_or("auto"), windows) {
            ("auto", _) => Ok(Policy::Auto),
            ("approve", _) => Ok(Policy::Approve),
            ("window", Some(spec)) => Ok(Policy::Window(window::parse(spec)?)),
            ("window", None) => anyhow::bail!("policy `window` without windows"),
            (other, _) => anyhow::bail!("unknown update policy `{other}`"),
        }
    }

    /// The windows, as `config.toml` stores them, under the `window` policy.
    pub fn windows_text(&self) -> Option<String> {
        match self {
            Policy::Window(w) => Some(window::display(w)),
            _ => None,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Window(w) => write!(f, "window {}", window::display(w)),
            other => f.write_str(other.mode()),
        }
    }
}

/// What a held-back release waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitsFor {
    /// `driftless approve`.
    Approval,
    /// The next update window.
    Window,
}

/// A release this host downloaded and verified that waits for the policy (in `sync.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    /// Its version.
    pub version: String,
    /// Digest of its signed release document: an approval names exactly this.
    pub digest: String,
    /// Marked urgent by the vendor, in the signed release.
    #[serde(default)]
    pub urgent: bool,
    /// What it waits for.
    pub waits_for: WaitsFor,
    /// Unix seconds of the next window's opening, under `window`.
    #[serde(default)]
    pub next_window_at: Option<i64>,
}

impl Waiting {
    /// As the check-in reports it.
    pub fn to_wire(&self) -> WaitingRelease {
        WaitingRelease {
            version: self.version.clone(),
            urgent: self.urgent,
            waits_for: match self.waits_for {
                WaitsFor::Approval => "approval".into(),
                WaitsFor::Window => "window".into(),
            },
            next_window_at: self.next_window_at,
        }
    }

    /// One line for a person: what waits, for what, and what to do.
    pub fn describe(&self, tz: &TimeZone) -> String {
        let urgent = if self.urgent {
            " (marked urgent by the vendor: a security fix)"
        } else {
            ""
        };
        let what = format!(
            "release {}{urgent} is downloaded and verified",
            self.version
        );
        match self.waits_for {
            WaitsFor::Approval => format!(
                "{what}; it waits for approval: run `driftless approve {}`",
                self.version
            ),
            WaitsFor::Window => match self
                .next_window_at
                .and_then(|t| Timestamp::from_second(t).ok())
            {
                Some(t) => format!(
                    "{what}; it waits for the update window opening {}",
                    window::local_text(t, tz)
                ),
                None => format!("{what}; it waits for the update window"),
            },
        }
    }

    fn reason(&self, tz: &TimeZone) -> Reason {
        Reason {
            code: match self.waits_for {
                WaitsFor::Approval => ReasonCode::WaitingForApproval,
                WaitsFor::Window => ReasonCode::WaitingForWindow,
            },
            detail: self.describe(tz),
            check: None,
        }
    }
}

/// The customer's approval of one exact release (`approval.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The approved version.
    pub version: String,
    /// Digest of its signed release document.
    pub digest: String,
    /// Unix seconds it was approved.
    pub at: i64,
}

fn approval_path(dir: &StateDir) -> std::path::PathBuf {
    dir.root().join("approval.json")
}

/// The recorded approval, if any.
pub fn load_approval(dir: &StateDir) -> Option<Approval> {
    fs::read(approval_path(dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Records the approval of one release (atomically; the last approval replaces the previous).
pub fn save_approval(dir: &StateDir, approval: &Approval) -> Result<()> {
    write_atomic(
        &approval_path(dir),
        &serde_json::to_vec_pretty(approval)?,
        false,
    )
}

/// The host's time zone: `TZ` when set (a name or a POSIX rule), else the system's.
pub fn host_time_zone() -> TimeZone {
    TimeZone::system()
}

/// The time zone's name for people: its IANA name, else `TZ`, else `local`.
pub fn time_zone_name(tz: &TimeZone) -> String {
    tz.iana_name()
        .map(str::to_string)
        .or_else(|| std::env::var(crate::env::TZ).ok())
        .unwrap_or_else(|| "local".into())
}

/// Now, for the window check. Debug builds let a test set it through
/// [`crate::env::TEST_NOW`] (Unix seconds or RFC 3339), so window tests are deterministic.
pub fn now() -> Timestamp {
    if cfg!(debug_assertions) {
        if let Ok(v) = std::env::var(crate::env::TEST_NOW) {
            let parsed = v
                .parse::<i64>()
                .ok()
                .and_then(|s| Timestamp::from_second(s).ok())
                .or_else(|| v.parse::<Timestamp>().ok());
            if let Some(t) = parsed {
                return t;
            }
        }
    }
    Timestamp::now()
}

/// What the policy says about applying a release now.
enum Gate {
    Apply,
    Wait(Waiting),
}

/// The gate between "verified" and "apply" for release `version` (digest `digest`).
fn gate(ctx: &Ctx<'_>, release: &ReleaseDocument, version: &str, digest: &str) -> Gate {
    // Repairing what runs is not a new release.
    if ctx.dir.current_version().as_deref() == Some(version) {
        return Gate::Apply;
    }
    // An apply that passed the gate and was interrupted is finished, not left half done.
    if crate::journal::interrupted(ctx.dir).is_some_and(|j| j.version == version) {
        return Gate::Apply;
    }
    let waiting = |waits_for, next_window_at| {
        Gate::Wait(Waiting {
            version: version.to_string(),
            digest: digest.to_string(),
            urgent: release.urgent,
            waits_for,
            next_window_at,
        })
    };
    match &ctx.config.policy {
        Policy::Auto => Gate::Apply,
        Policy::Approve => {
            let approved =
                load_approval(ctx.dir).is_some_and(|a| a.version == version && a.digest == digest);
            if approved {
                Gate::Apply
            } else {
                waiting(WaitsFor::Approval, None)
            }
        }
        Policy::Window(windows) => {
            let (now, tz) = (now(), host_time_zone());
            if window::is_open(windows, now, &tz) {
                Gate::Apply
            } else {
                let next = window::next_opening(windows, now, &tz).map(|t| t.as_second());
                waiting(WaitsFor::Window, next)
            }
        }
    }
}

/// Holds `version` back when the policy says it must wait: downloads it (when the
/// check-in gave registry access) so it applies fast later, keeps the running release
/// as it is (repairing its drift), and returns the outcome. `None`: apply it now.
pub async fn hold(
    ctx: &Ctx<'_>,
    record: &mut SyncRecord,
    release: &ReleaseDocument,
    version: &str,
    digest: &str,
    access: Option<&driftless_wire::checkin::RegistryAccess>,
    repaired: &mut Vec<String>,
) -> Result<Option<SyncOutcome>> {
    let Gate::Wait(waiting) = gate(ctx, release, version, digest) else {
        record.waiting = None;
        if record.reason.as_ref().is_some_and(|r| {
            matches!(
                r.code,
                ReasonCode::WaitingForApproval | ReasonCode::WaitingForWindow
            )
        }) {
            record.reason = None;
        }
        return Ok(None);
    };
    if let Some(access) = access {
        crate::apply::download(ctx, release, version, access).await?;
    }
    let current = ctx.dir.current_version();
    let mut changed = false;
    if let Some(cur) = &current {
        let (_, running, _) = ctx.dir.load_verified(cur)?;
        changed = crate::apply::apply(ctx, &running, cur, None, repaired).await?;
    }
    let tz = host_time_zone();
    record.reason = Some(waiting.reason(&tz));
    record.target_version = None;
    let message = waiting.describe(&tz);
    record.waiting = Some(waiting);
    Ok(Some(SyncOutcome {
        next_checkin_s: record.next_checkin_s,
        version: current,
        changed,
        repaired: vec![],
        message: Some(message),
    }))
}

/// Arguments of `driftless policy`.
#[derive(clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

/// The policy's modes, as `policy set` takes them.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Mode {
    /// Apply a new release as soon as it is assigned.
    Auto,
    /// Download and verify it, then wait for `driftless approve`.
    Approve,
    /// Download and verify it, then apply it inside a weekly window.
    Window,
}

#[derive(clap::Subcommand)]
enum PolicyCommand {
    /// Choose when a new release is applied: auto, approve, or window 'Sat 02:00-04:00'.
    Set {
        /// auto, approve or window.
        mode: Mode,
        /// Under `window`: comma-separated weekly windows in the host's time zone
        /// (TZ respected), each DAY HH:MM-HH:MM; a window may cross midnight
        /// (e.g. 'Sat 02:00-04:00, Sun 23:00-01:00').
        windows: Option<String>,
    },
    /// Print the policy, and what waits for it.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `driftless policy`.
pub fn run_command(dir: &StateDir, args: PolicyArgs) -> Result<()> {
    match args.command {
        PolicyCommand::Set { mode, windows } => set(dir, mode, windows.as_deref()),
        PolicyCommand::Show { json } => show(dir, json),
    }
}

fn set(dir: &StateDir, mode: Mode, windows: Option<&str>) -> Result<()> {
    let policy = match (mode, windows) {
        (Mode::Auto, None) => Policy::Auto,
        (Mode::Approve, None) => Policy::Approve,
        (Mode::Window, Some(spec)) => Policy::Window(
            window::parse(spec)
                .map_err(|e| driftless_exit::InvalidInput(e.to_string()))
                .hint(
                    "write DAY HH:MM-HH:MM[, …] with DAY one of Mon..Sun, e.g. 'Sat 02:00-04:00'",
                )?,
        ),
        (Mode::Window, None) => driftless_exit::refuse!(
            hint = "e.g. `driftless policy set window 'Sat 02:00-04:00'`";
            "policy `window` needs the windows"
        ),
        (m, Some(extra)) => driftless_exit::refuse!(
            hint = "windows go with `window` only";
            "policy `{}` takes no windows, got `{extra}`",
            if matches!(m, Mode::Auto) { "auto" } else { "approve" }
        ),
    };
    let mut config = dir.load_config()?;
    config.policy = policy;
    dir.save_config(&config)?;
    eprintln!("update policy: {}", config.policy);
    if let Some(w) = dir.load_sync().waiting {
        eprintln!(
            "{} waits; the next sync applies it if the new policy allows",
            w.version
        );
    }
    Ok(())
}

/// `policy show --json` and the `policy` of `status --json` (stable: fields are only added).
#[derive(Serialize)]
pub struct PolicyReport {
    /// `auto`, `approve` or `window`.
    pub mode: String,
    /// The policy in one line, as the check-in reports it (`window Sat 02:00-04:00`).
    pub policy: String,
    /// The weekly windows, under `window`.
    pub windows: Vec<String>,
    /// The time zone windows are read in.
    pub time_zone: String,
    /// Whether a window is open now, under `window`.
    pub window_open: Option<bool>,
    /// The next window's opening (RFC 3339), under `window`.
    pub next_window_at: Option<String>,
    /// The release waiting for the policy, if any.
    pub waiting: Option<Waiting>,
}

/// The policy and what waits, for `policy show` and `status`.
pub fn report(policy: &Policy, record: &SyncRecord) -> PolicyReport {
    let (now, tz) = (now(), host_time_zone());
    let (windows, open, next) = match policy {
        Policy::Window(w) => (
            w.iter().map(Window::to_string).collect(),
            Some(window::is_open(w, now, &tz)),
            window::next_opening(w, now, &tz).map(|t| t.to_string()),
        ),
        _ => (vec![], None, None),
    };
    PolicyReport {
        mode: policy.mode().into(),
        policy: policy.to_string(),
        windows,
        time_zone: time_zone_name(&tz),
        window_open: open,
        next_window_at: next,
        waiting: record.waiting.clone(),
    }
}

fn show(dir: &StateDir, json: bool) -> Result<()> {
    let config = dir.load_config()?;
    let record = dir.load_sync();
    let report = report(&config.policy, &record);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("cannot encode the policy")?
        );
        return Ok(());
    }
    print_text(&report);
    Ok(())
}

/// The policy's lines of `policy show` and `status`.
pub fn print_text(report: &PolicyReport) {
    let tz = host_time_zone();
    let when = match (report.window_open, &report.next_window_at) {
        (Some(true), _) => format!(" ({}; a window is open now)", report.time_zone),
        (Some(false), Some(next)) => match next.parse::<Timestamp>() {
            Ok(t) => format!(
                " ({}; next opens {})",
                report.time_zone,
                window::local_text(t, &tz)
            ),
            Err(_) => format!(" ({})", report.time_zone),
        },
        _ => String::new(),
    };
    println!("policy    {}{when}", report.policy);
    if let Some(w) = &report.waiting {
        println!("waiting   {}", w.describe(&tz));
    }
}
