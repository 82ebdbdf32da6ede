//! `driftless-vendor audit verify`: walks the whole audit log a page at a time, checks
//! every entry's hash against its content and its predecessor, verifies the control
//! plane's newest checkpoint (and one kept outside its database) against the root
//! chain, and checks that the log still reaches each checkpoint's head. Each fault
//! names its entry; any fault exits with the audit verification code.

use std::path::PathBuf;

use anyhow::{anyhow, Context as _, Result};
use driftless_client::{ClientError, VendorClient};
use driftless_exit::{code, Coded};
use driftless_wire::audit_checkpoint::AuditCheckpoint;
use driftless_wire::root::RootDocument;
use driftless_wire::Envelope;

use crate::audit::{head_seq, page_after, WALK_PAGE};
use crate::audit_chain_check::{ChainCheck, Fault};
use crate::output;

/// Arguments of `audit verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A checkpoint saved with `audit checkpoint -o` and kept outside the database.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// The root fingerprint `init` printed (default: the one the control plane states).
    #[arg(long)]
    root_fingerprint: Option<String>,
}

/// Entries either side of a suspect read to find where it was chained from.
const NEIGHBOURHOOD: u64 = 500;

/// Runs `audit verify`.
pub async fn run(client: &VendorClient, args: VerifyArgs) -> Result<()> {
    let roots = verified_roots(client, args.root_fingerprint.as_deref()).await?;
    let mut checkpoints = Vec::new();
    if let Some(env) = newest_checkpoint(client).await? {
        let cp = checked_checkpoint(&env, &roots, "the control plane's newest checkpoint")?;
        checkpoints.push((cp, "the control plane's newest checkpoint".to_string()));
    }
    if let Some(path) = &args.checkpoint {
        let env = read_checkpoint(path)?;
        let source = format!("the checkpoint in {}", path.display());
        checkpoints.push((checked_checkpoint(&env, &roots, &source)?, source));
    }
    let sizes: Vec<u64> = checkpoints.iter().map(|(cp, _)| cp.tree_size).collect();
    let mut check = ChainCheck::new(&sizes);
    let head = head_seq(client).await?;
    let mut after = 0;
    while after < head {
        for e in page_after(client, after).await? {
            check.push(&e);
        }
        after = after.saturating_add(u64::from(WALK_PAGE));
    }
    for (cp, source) in &checkpoints {
        check.check_checkpoint(cp.tree_size, &cp.head, source);
    }
    let held = check.held();
    let neighbours = neighbours(client, check.suspects().iter().map(|s| s.seq)).await?;
    let faults = check.faults(&neighbours);
    report(held, &checkpoints, &faults)
}

/// Prints the outcome (data on stdout) and fails with the first fault.
fn report(held: u64, checkpoints: &[(AuditCheckpoint, String)], faults: &[Fault]) -> Result<()> {
    if let Some(first) = faults.first() {
        for f in faults {
            println!("{f}");
        }
        return Err(Coded(
            code::AUDIT_VERIFICATION,
            format!(
                "the audit log failed verification: {first} ({} fault(s), listed above)",
                faults.len()
            ),
        )
        .into());
    }
    println!("audit log verified: {held} entries, each chained to the one before it");
    for (cp, source) in checkpoints {
        println!(
            "{source}: {} entries, signed {}, head {} matches",
            cp.tree_size,
            output::timestamp(cp.at),
            cp.head
        );
    }
    if checkpoints.is_empty() {
        eprintln!("warning: no checkpoint was checked, so a deleted tail would go unnoticed; keep one with `driftless-vendor audit checkpoint -o FILE`");
    }
    Ok(())
}

/// The stored entries around each suspect, to find where it was chained from.
async fn neighbours(
    client: &VendorClient,
    suspects: impl Iterator<Item = u64>,
) -> Result<Vec<driftless_store::AuditEntry>> {
    let mut out = Vec::new();
    let mut read_up_to = 0;
    for seq in suspects {
        let mut after = seq.saturating_sub(NEIGHBOURHOOD + 1).max(read_up_to);
        while after < seq.saturating_add(NEIGHBOURHOOD) {
            out.extend(page_after(client, after).await?);
            after = after.saturating_add(u64::from(WALK_PAGE));
        }
        read_up_to = after;
    }
    Ok(out)
}

/// The control plane's root chain, each version verified from version 1 (pinned to
/// `fingerprint`, else to the fingerprint the control plane states), oldest first: a
/// checkpoint is checked against the keys of every version, so one signed before two
/// rotations of the checkpoint key still verifies.
pub(crate) async fn verified_roots(
    client: &VendorClient,
    fingerprint: Option<&str>,
) -> Result<Vec<RootDocument>> {
    let info = client.info().await?;
    let pinned = fingerprint.unwrap_or(&info.root_fingerprint);
    let now = crate::clock::now();
    let first = client.root(1).await?;
    let mut roots = vec![driftless_trust::verify_root_v1(&first, pinned, now)
        .map_err(|e| verification(format!("root version 1: {e}")))?];
    for v in 2..=info.root_version {
        let env = client.root(v).await?;
        let newest = roots.last().ok_or_else(|| anyhow!("no root version 1"))?;
        let next = driftless_trust::verify_root_update(newest, &env, now)
            .map_err(|e| verification(format!("root version {v}: {e}")))?;
        roots.push(next);
    }
    Ok(roots)
}

/// The checkpoint in `env`, refused unless a checkpoint key of a version of the root
/// chain `roots` (oldest first) signed it.
pub(crate) fn checked_checkpoint(
    env: &Envelope,
    roots: &[RootDocument],
    source: &str,
) -> Result<AuditCheckpoint> {
    driftless_trust::verify_checkpoint_by_any(env, roots).map_err(|e| {
        verification(format!(
            "{source} is refused: {e} (no root version 1 to {} lists a key that signed it)",
            roots.len()
        ))
    })
}

/// The control plane's newest checkpoint; `None` when it has signed none.
async fn newest_checkpoint(client: &VendorClient) -> Result<Option<Envelope>> {
    match client.audit_checkpoint(false).await {
        Ok(env) => Ok(Some(env)),
        Err(ClientError::Api { status: 404, .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A checkpoint file as `audit checkpoint -o` wrote it.
fn read_checkpoint(path: &PathBuf) -> Result<Envelope> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the checkpoint {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow!(driftless_exit::InvalidInput(format!(
            "{} is not a signed checkpoint ({e}); pass a file `driftless-vendor audit checkpoint -o` wrote",
            path.display()
        )))
    })
}

/// An error that exits with the audit verification code.
fn verification(message: String) -> anyhow::Error {
    Coded(code::AUDIT_VERIFICATION, message).into()
}
