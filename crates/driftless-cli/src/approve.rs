//! `driftless approve [VERSION]`: the customer approves the release that waits under
//! the `approve` policy. The approval names that exact release (its signed document's
//! digest), is recorded in `approval.json`, and is applied at once by a sync; when the
//! agent holds the state directory, its next sync applies it.

use anyhow::Result;
use driftless_exit::refuse;

use crate::policy::{self, Approval, WaitsFor};
use crate::progress::Progress;
use crate::state::StateDir;

/// Arguments of `driftless approve`.
#[derive(clap::Args)]
pub struct ApproveArgs {
    /// The version to approve; it must be the one waiting [default: the waiting one].
    version: Option<String>,
}

/// Runs `driftless approve`.
pub async fn run_command(dir: &StateDir, args: ApproveArgs) -> Result<()> {
    let approval = approval_of(dir, args.version.as_deref())?;
    policy::save_approval(dir, &approval)?;
    eprintln!("approved {} ({})", approval.version, approval.digest);
    // The agent (or another sync) holds the state directory: it applies the approval.
    match dir.lock() {
        Ok(lock) => drop(lock),
        Err(_) => {
            eprintln!("a driftless agent or sync is working here; its next sync applies it");
            return Ok(());
        }
    }
    let out = crate::sync::sync(dir, Progress::detect()).await?;
    match (out.version, dir.load_sync().waiting) {
        (Some(v), None) if v == approval.version => eprintln!("converged on {v}"),
        (running, Some(w)) => eprintln!(
            "running {}; {}",
            running.as_deref().unwrap_or("nothing yet"),
            w.describe(&policy::host_time_zone())
        ),
        (running, None) => eprintln!(
            "running {}; the assignment changed since {} was approved",
            running.as_deref().unwrap_or("nothing yet"),
            approval.version
        ),
    }
    Ok(())
}

/// The approval of the release waiting for one, checked against what the user named
/// and against the verified documents on disk. Refuses, changing nothing, otherwise.
fn approval_of(dir: &StateDir, asked: Option<&str>) -> Result<Approval> {
    let config = dir.load_config()?;
    let record = dir.load_sync();
    let current = dir.current_version();
    let Some(waiting) = record.waiting.filter(|w| w.waits_for == WaitsFor::Approval) else {
        if asked.is_some() && asked == current.as_deref() {
            refuse!(hint = "nothing to approve"; "{} is already running", asked.unwrap_or_default());
        }
        let hint = if matches!(config.policy, policy::Policy::Approve) {
            "`driftless sync` fetches a new release; `driftless status` shows what waits"
        } else {
            "approvals are for `driftless policy set approve`; `driftless policy show` shows the policy"
        };
        refuse!(hint = hint; "no release waits for approval on this host");
    };
    if let Some(v) = asked.filter(|v| *v != waiting.version) {
        refuse!(
            hint = format!("approve the waiting release: `driftless approve {}`", waiting.version);
            "{v} is not the release waiting for approval ({} waits)", waiting.version
        );
    }
    // The approval names the documents this host verified, not only a version.
    let (env, _, _) = dir.load_verified(&waiting.version)?;
    let digest = driftless_wire::Digest::of(&env.payload_bytes()?).to_string();
    if digest != waiting.digest {
        refuse!(
            hint = "run `driftless sync`, then approve what it says waits";
            "the stored release {} is not the one that waits (digest {digest}, expected {})",
            waiting.version, waiting.digest
        );
    }
    Ok(Approval {
        version: waiting.version,
        digest,
        at: crate::now(),
    })
}
