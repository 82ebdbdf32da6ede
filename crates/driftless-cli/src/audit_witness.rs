//! The host as a witness of the vendor's audit log: every check-in answer names the
//! tree size of the control plane's newest signed checkpoint; when it is not the one
//! this host saw last, the host fetches it, verifies its signature with the checkpoint
//! keys of the root it trusts, and accepts it only if the log still holds the head the
//! host saw (see [`driftless_trust::require_witnessed_extension`]). The last accepted
//! checkpoint is kept in `trust/audit-checkpoint.json`.
//!
//! A refusal never touches the running app and does not stop the sync: releases carry
//! their own signatures, and the log is the vendor's record, not the host's trust. The
//! sync converges as usual, then fails with exit code 20 and reports the reason
//! `audit_log_forked`, so the customer's timer and the vendor's fleet view both show
//! which host saw the fork. The host keeps the checkpoint it saw, so every later sync
//! refuses again until the log extends it.

use anyhow::{Context as _, Result};
use driftless_exit::{code, Coded, HintExt as _};
use driftless_trust::{require_witnessed_extension, verify_checkpoint, TrustError};
use driftless_wire::audit_checkpoint::AuditCheckpoint;
use driftless_wire::{Envelope, AUDIT_CHECKPOINT_PAYLOAD_TYPE};

use crate::request_clock::next_request_ms;
use crate::sync::Ctx;

/// Witnesses the control plane's newest checkpoint when the check-in answer named one
/// (`offered`, its tree size) other than the last this host saw. `Err` only for a
/// refusal (exit code 20); a checkpoint that cannot be fetched is a warning.
pub(crate) async fn witness(ctx: &Ctx<'_>, offered: Option<u64>) -> Result<()> {
    let Some(offered) = offered else {
        return Ok(());
    };
    let last = ctx.dir.load_witnessed_checkpoint();
    let last = last.as_ref().and_then(decoded);
    if last.as_ref().is_some_and(|cp| cp.tree_size == offered) {
        return Ok(());
    }
    let since = last.as_ref().map(|cp| cp.tree_size);
    let fetched = async {
        let signed_at_ms = next_request_ms(ctx.dir)?;
        let id = &ctx.config.install_id;
        anyhow::Ok(
            ctx.client
                .audit_checkpoint(id, &ctx.key, since, signed_at_ms)
                .await?,
        )
    }
    .await;
    let answer = match fetched {
        Ok(a) => a,
        Err(e) => {
            eprintln!("warning: could not fetch the control plane's audit checkpoint to witness it: {e:#}");
            return Ok(());
        }
    };
    let trust = ctx.dir.load_trust()?;
    let newest = verify_checkpoint(&answer.checkpoint, &trust.root).map_err(|e| {
        refusal(format!(
            "the control plane's audit checkpoint is refused: {e} (root version {} lists the checkpoint keys)",
            trust.root.version
        ))
    })?;
    if let Some(last) = &last {
        require_witnessed_extension(last, &newest, answer.hash_at_since.as_deref())
            .map_err(|e| refusal(describe(&e, &newest)))
            .hint(
                "the running app was not touched; tell your vendor: this host witnessed their audit log before it changed (the checkpoint it saw is in trust/audit-checkpoint.json)",
            )?;
    }
    ctx.dir
        .save_witnessed_checkpoint(&answer.checkpoint)
        .context("cannot keep the audit checkpoint this host witnessed")
}

/// The checkpoint in a stored envelope (it was verified when stored).
fn decoded(env: &Envelope) -> Option<AuditCheckpoint> {
    env.decode(AUDIT_CHECKPOINT_PAYLOAD_TYPE, "audit checkpoint")
        .ok()
}

/// A refusal: exit code 20, reported as `audit_log_forked`.
fn refusal(message: String) -> anyhow::Error {
    Coded(code::AUDIT_VERIFICATION, message).into()
}

/// The refusal's line: what the log did, and the checkpoint that was refused.
fn describe(e: &TrustError, newest: &AuditCheckpoint) -> String {
    format!(
        "{e}; the control plane's checkpoint of {} entries is refused",
        newest.tree_size
    )
}
