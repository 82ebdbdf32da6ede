//! `driftless-vendor channel policy set|show`: a channel's promotion gate, which the
//! control plane evaluates at `promote` and `rollout start`.

use anyhow::Result;
use clap::Subcommand;
use driftless_sbom::{ChannelPolicy, Severity};

use crate::remote::Remote;

/// Arguments of `channel policy`.
#[derive(clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    action: PolicyAction,
}

#[derive(Subcommand)]
enum PolicyAction {
    /// Replace the channel's policy with the one these flags describe.
    Set(SetArgs),
    /// Print the channel's policy and the OSV data set's age as JSON.
    Show(ChannelRef),
}

#[derive(clap::Args)]
struct ChannelRef {
    /// App name.
    #[arg(long)]
    app: String,
    /// The channel.
    #[arg(long)]
    channel: String,
}

#[derive(clap::Args)]
struct SetArgs {
    #[command(flatten)]
    target: ChannelRef,
    /// An SPDX licence id a component may be used under; repeatable. With none, any
    /// licence not denied is allowed.
    #[arg(long = "allow-licence", value_name = "SPDX-ID")]
    allow: Vec<String>,
    /// An SPDX licence id no component may need; repeatable.
    #[arg(long = "deny-licence", value_name = "SPDX-ID")]
    deny: Vec<String>,
    /// The highest advisory severity allowed: low, medium, high or critical.
    #[arg(long, value_parser = parse_severity)]
    max_severity: Option<Severity>,
    /// Every service of a release must have an SBOM.
    #[arg(long)]
    require_sbom: bool,
    /// Refuse when the OSV data set's newest record is older than this many days.
    #[arg(long, value_name = "DAYS")]
    max_osv_age_days: Option<u64>,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).map_err(|e| e.to_string())
}

/// Runs `channel policy`.
pub async fn run(args: PolicyArgs, remote: &Remote) -> Result<()> {
    let c = remote.client()?;
    match args.action {
        PolicyAction::Show(t) => {
            let shown = c.channel_policy(&t.app, &t.channel).await?;
            crate::output::print_json(&shown)
        }
        PolicyAction::Set(s) => {
            let policy = ChannelPolicy {
                allow_licences: s.allow,
                deny_licences: s.deny,
                max_severity: s.max_severity,
                require_sbom: s.require_sbom,
                max_osv_age_days: s.max_osv_age_days,
            };
            if let Err(e) = policy.check() {
                driftless_exit::refuse!(
                    hint = "use SPDX identifiers, e.g. MIT, Apache-2.0, GPL-3.0-only";
                    "{e}"
                );
            }
            let value = serde_json::to_value(&policy)?;
            let (app, channel) = (&s.target.app, &s.target.channel);
            let set = c.set_channel_policy(app, channel, &value).await?;
            crate::output::print_json(&set)?;
            eprintln!("the gate of channel {app}/{channel} is set");
            Ok(())
        }
    }
}

/// `--override-gate REASON`, refused when the reason is blank: an override is audited
/// and must say why.
pub fn override_reason(given: Option<String>) -> Result<Option<String>> {
    match given {
        Some(r) if r.trim().is_empty() => driftless_exit::refuse!(
            hint = "say why, e.g. --override-gate \"CVE-… does not reach our code path; fix in 1.2.1\"";
            "--override-gate needs a reason"
        ),
        other => Ok(other),
    }
}
