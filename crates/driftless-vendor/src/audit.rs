//! `driftless-vendor audit`: the newest entries of the audit log, a page at a time;
//! `audit verify` (see [`crate::audit_verify`]); `audit checkpoint` saves the newest
//! signed checkpoint for keeping outside the database; `audit export` writes the log as
//! JSON lines for a SIEM, from a cursor.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use driftless_client::VendorClient;
use driftless_store::AuditEntry;
use serde_json::Value;

use crate::output::{self, Table};
use crate::remote::Remote;

/// Entries per request when walking the whole log.
pub(crate) const WALK_PAGE: u32 = 1000;

/// Arguments of `audit`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,
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

/// What `audit` does besides listing.
#[derive(clap::Subcommand)]
enum AuditCommand {
    /// Check the whole hash chain and its signed checkpoints; name each wrong entry.
    Verify(crate::audit_verify::VerifyArgs),
    /// Save the newest signed checkpoint (signing one of the head first) to a file.
    Checkpoint(CheckpointArgs),
    /// Write entries as JSON lines, oldest first, after a cursor.
    Export(ExportArgs),
}

/// Arguments of `audit checkpoint`.
#[derive(clap::Args)]
struct CheckpointArgs {
    /// Where to write it (keep it outside the control plane's database).
    #[arg(short, long)]
    output: PathBuf,
}

/// Arguments of `audit export`.
#[derive(clap::Args)]
struct ExportArgs {
    /// Only entries after this one (the cursor the previous export printed).
    #[arg(long, default_value_t = 0)]
    after: u64,
}

/// Runs `audit`.
pub async fn run(args: AuditArgs) -> Result<()> {
    let client = args.remote.client()?;
    match args.command {
        Some(AuditCommand::Verify(v)) => crate::audit_verify::run(&client, v).await,
        Some(AuditCommand::Checkpoint(c)) => save_checkpoint(&client, &c).await,
        Some(AuditCommand::Export(e)) => export(&client, e.after).await,
        None => list(&client, &args).await,
    }
}

/// The newest entries, one page.
async fn list(client: &VendorClient, args: &AuditArgs) -> Result<()> {
    let page = client
        .audit_page(Some(args.limit), args.cursor.as_deref())
        .await?;
    output::print_list(args.json, &page.items, table)?;
    if let Some(next) = page.next_cursor {
        eprintln!("older entries follow: next page with --cursor {next}");
    }
    Ok(())
}

/// The number of the newest entry (0 for an empty log).
pub(crate) async fn head_seq(client: &VendorClient) -> Result<u64> {
    let newest = client.audit_page(Some(1), None).await?;
    Ok(newest
        .items
        .first()
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or(0))
}

/// The entries numbered `after + 1` to `after + WALK_PAGE`, oldest first.
pub(crate) async fn page_after(client: &VendorClient, after: u64) -> Result<Vec<AuditEntry>> {
    let items = client.audit_after(after, WALK_PAGE).await?;
    items
        .into_iter()
        .map(|v| {
            serde_json::from_value(v)
                .context("the control plane sent an audit entry this CLI cannot read")
        })
        .collect()
}

/// `audit checkpoint -o FILE`: verified against the root chain before it is written.
async fn save_checkpoint(client: &VendorClient, args: &CheckpointArgs) -> Result<()> {
    let env = client.audit_checkpoint(true).await?;
    let roots = crate::audit_verify::verified_roots(client, None).await?;
    let cp =
        crate::audit_verify::checked_checkpoint(&env, &roots, "the control plane's checkpoint")?;
    let text = serde_json::to_vec_pretty(&env)?;
    std::fs::write(&args.output, text)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "saved the checkpoint of {} entries (head {}, signed {}) to {}; keep it where the control plane cannot change it",
        cp.tree_size,
        cp.head,
        output::timestamp(cp.at),
        args.output.display()
    );
    Ok(())
}

/// `audit export`: every entry after `after`, one JSON object a line, oldest first.
async fn export(client: &VendorClient, after: u64) -> Result<()> {
    let head = head_seq(client).await?;
    let mut cursor = after;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut written = 0u64;
    while cursor < head {
        for e in page_after(client, cursor).await? {
            writeln!(out, "{}", serde_json::to_string(&siem_line(&e))?)?;
            written += 1;
        }
        cursor = cursor.saturating_add(u64::from(WALK_PAGE)).min(head);
    }
    out.flush()?;
    eprintln!("exported {written} entries; the next export continues with --after {cursor}");
    Ok(())
}

/// One entry flattened for a SIEM: every field at the top level.
fn siem_line(e: &AuditEntry) -> Value {
    serde_json::json!({
        "seq": e.seq,
        "at": output::timestamp(e.event.at),
        "at_unix": e.event.at,
        "actor": e.event.actor,
        "action": e.event.action,
        "subject": e.event.subject,
        "detail": e.event.detail,
        "request_id": e.event.request_id,
        "hash": e.hash,
    })
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
