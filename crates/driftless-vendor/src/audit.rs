//! `driftless-vendor audit`: the newest entries of the audit log, a page at a time.

use anyhow::Result;
use serde_json::Value;

use crate::output::{self, Table};
use crate::remote::Remote;

/// Arguments of `audit`.
#[derive(clap::Args)]
pub struct AuditArgs {
    /// How many (1 to 10000); the cursor of older entries goes to stderr.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
    /// Start below this cursor (from a previous page) instead of at the newest entry.
    #[arg(long)]
    cursor: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

/// Runs `audit`.
pub async fn run(args: AuditArgs) -> Result<()> {
    let page = args
        .remote
        .client()?
        .audit_page(Some(args.limit), args.cursor.as_deref())
        .await?;
    output::print_list(args.json, &page.items, table)?;
    if let Some(next) = page.next_cursor {
        eprintln!("older entries follow: next page with --cursor {next}");
    }
    Ok(())
}

/// The entries as the control plane sent them: kept as JSON values so `--json` prints
/// every field, even one this CLI does not know yet; the table shows the known ones.
fn table(entries: &[Value]) -> Table<5> {
    let mut t = Table::new(["SEQ", "AT", "ACTOR", "ACTION", "SUBJECT"]);
    for e in entries {
        let event = &e["event"];
        let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
        t.row([
            e["seq"].as_u64().map_or("-".into(), |s| s.to_string()),
            event["at"].as_i64().map_or("-".into(), output::timestamp),
            text(&event["actor"]),
            text(&event["action"]),
            text(&event["subject"]),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_who_did_what_when() {
        let entries = [serde_json::json!({
            "seq": 7,
            "event": {"at": 0, "actor": "operator", "action": "release.publish",
                      "subject": "acme@1.0.0", "detail": "{}"},
            "hash": "ab"
        })];
        assert_eq!(
            table(&entries).render(),
            "SEQ  AT                    ACTOR     ACTION           SUBJECT\n\
             7    1970-01-01T00:00:00Z  operator  release.publish  acme@1.0.0\n"
        );
    }
}
