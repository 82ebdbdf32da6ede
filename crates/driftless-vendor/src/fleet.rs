//! `driftless-vendor fleet`: every install with its desired and reported state. Installs
//! a host uninstalled (`driftless uninstall`) are listed only with `--all` or
//! `--uninstalled`, with the status `uninstalled`.

use anyhow::Result;
use driftless_wire::api::InstallInfo;

use crate::output::{self, Table};
use crate::remote::Remote;

/// Arguments of `fleet`.
#[derive(clap::Args)]
pub struct FleetArgs {
    /// Only this app.
    #[arg(long)]
    app: Option<String>,
    /// Also list installs whose host was uninstalled.
    #[arg(long, conflicts_with = "uninstalled")]
    all: bool,
    /// List only installs whose host was uninstalled.
    #[arg(long)]
    uninstalled: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

/// Runs `fleet`.
pub async fn run(args: FleetArgs) -> Result<()> {
    let client = args.remote.client()?;
    let show = match (args.all, args.uninstalled) {
        (true, _) => "all",
        (_, true) => "uninstalled",
        _ => "active",
    };
    let list = client
        .list_installs_showing(args.app.as_deref(), show)
        .await?;
    output::print_list(args.json, &list, table)
}

fn table(installs: &[InstallInfo]) -> Table<8> {
    let mut t = Table::new([
        "INSTALL", "CUSTOMER", "CHANNEL", "DESIRED", "CURRENT", "STATUS", "POLICY", "REASON",
    ]);
    for i in installs {
        t.row([
            i.id.clone(),
            i.customer.clone(),
            i.channel.clone(),
            output::or_dash(i.desired_version.as_deref()),
            output::or_dash(i.current_version.as_deref()),
            i.status.clone(),
            policy_cell(i),
            output::or_dash(i.reason.as_ref().map(|r| r.code.name())),
        ]);
    }
    t
}

/// The install's policy, with the release it holds back (`approve (2.0.0 urgent)`);
/// `auto` for hosts that never reported one.
fn policy_cell(i: &InstallInfo) -> String {
    let policy = i.policy.as_deref().unwrap_or("auto");
    match &i.waiting {
        Some(w) if w.urgent => format!("{policy} ({} urgent)", w.version),
        Some(w) => format!("{policy} ({})", w.version),
        None => policy.to_string(),
    }
}
