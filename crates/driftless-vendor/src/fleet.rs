//! `driftless-vendor fleet`: every install with its desired and reported state. Installs
//! a host uninstalled (`driftless uninstall`) are listed only with `--all` or
//! `--uninstalled`, with the status `uninstalled`. The list is fetched a page at a time;
//! `--limit`/`--cursor` print one page, and `--summary` prints the counts the control
//! plane's database makes instead of the installs.

use anyhow::Result;
use driftless_wire::api::InstallInfo;
use driftless_wire::status::Reason;
use serde_json::Value;

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
    /// Print one page of at most this many installs (1 to 10000) instead of every
    /// install; the next page's cursor goes to stderr.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: Option<u32>,
    /// Print the page that starts at this cursor (from a previous page).
    #[arg(long)]
    cursor: Option<String>,
    /// Print how many installs run each version with each status and reason, per app
    /// and channel, instead of the installs.
    #[arg(long, conflicts_with_all = ["all", "uninstalled", "limit", "cursor"])]
    summary: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

/// Runs `fleet`.
pub async fn run(args: FleetArgs) -> Result<()> {
    let client = args.remote.client()?;
    if args.summary {
        let summary = client.fleet_summary(args.app.as_deref()).await?;
        return if args.json {
            output::print_json(&summary)
        } else {
            print!("{}", summary_table(&summary).render());
            Ok(())
        };
    }
    let show = match (args.all, args.uninstalled) {
        (true, _) => "all",
        (_, true) => "uninstalled",
        _ => "active",
    };
    if args.limit.is_none() && args.cursor.is_none() {
        let list = client
            .list_installs_showing(args.app.as_deref(), show)
            .await?;
        return output::print_list(args.json, &list, table);
    }
    let page = client
        .list_installs_page(
            args.app.as_deref(),
            show,
            args.cursor.as_deref(),
            args.limit,
        )
        .await?;
    output::print_list(args.json, &page.items, table)?;
    if let Some(next) = page.next_cursor {
        eprintln!("more installs follow: next page with --cursor {next}");
    }
    Ok(())
}

/// The summary as the control plane sent it: JSON values, so `--json` prints every
/// field; the table shows the known ones and a total.
fn summary_table(summary: &Value) -> Table<6> {
    let mut t = Table::new(["APP", "CHANNEL", "VERSION", "STATUS", "REASON", "INSTALLS"]);
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let empty = Vec::new();
    for c in summary["counts"].as_array().unwrap_or(&empty) {
        t.row([
            text(&c["app"]),
            text(&c["channel"]),
            text(&c["version"]),
            text(&c["status"]),
            text(&c["reason"]),
            c["installs"].as_u64().map_or("-".into(), |n| n.to_string()),
        ]);
    }
    let total = summary["total"]
        .as_u64()
        .map_or("-".into(), |n| n.to_string());
    t.row([
        "total".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        total,
    ]);
    t
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
            status_cell(i),
            policy_cell(i),
            output::or_dash(i.reason.as_ref().map(Reason::label).as_deref()),
        ]);
    }
    t
}

/// The reported status; an air-gapped install says so, with its last receipt's time.
fn status_cell(i: &InstallInfo) -> String {
    if !i.id.starts_with("airgap-") {
        return i.status.clone();
    }
    let when = i.last_seen.map_or("-".into(), output::timestamp);
    format!("{} (air-gapped, last receipt {when})", i.status)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_rows_show_each_count_and_the_total() {
        let summary = serde_json::json!({
            "total": 7,
            "counts": [
                {"app": "acme", "channel": "stable", "version": "1.0.0", "status": "converged",
                 "reason": null, "installs": 5},
                {"app": "acme", "channel": "stable", "version": null, "status": "new",
                 "reason": null, "installs": 2}
            ]
        });
        assert_eq!(
            summary_table(&summary).render(),
            "APP    CHANNEL  VERSION  STATUS     REASON  INSTALLS\n\
             acme   stable   1.0.0    converged  -       5\n\
             acme   stable   -        new        -       2\n\
             total                                       7\n"
        );
    }
}
