//! `driftless rollback`: the customer brings back the release this host ran before the
//! current one, and holds the assigned release back until the vendor assigns another.
//!
//! The target is the stored release with the highest release counter below the
//! current one's that ran healthy here (`releases/<version>/ran`). Its documents are
//! verified again ([`driftless_trust::verify_local_rollback`]: signatures under the
//! root trusted now, this install, this app, never below the rollback floor; expiry is
//! not checked, since the host accepted them fresh and only the customer chooses now),
//! then it is applied exactly as a sync applies a release (health gate included: an
//! unhealthy target brings the current release back). Nothing is pulled: a release
//! whose images are gone from the engine cannot be rolled back to. The assigned release
//! is held back with the mechanism a failed health check uses, so the next sync keeps
//! the host where it is until the assignment names a different release digest.

use anyhow::{Context as _, Result};
use driftless_exit::{code, Coded, HintExt as _};
use driftless_trust::TrustError;
use driftless_wire::status::{InstallStatus, Reason, ReasonCode};
use driftless_wire::Digest;

use crate::journal::{self, Step};
use crate::progress::Progress;
use crate::state::{FailedRelease, StateDir, SyncRecord};
use crate::sync::{Ctx, SyncOutcome};

/// Runs `driftless rollback`.
pub async fn run_command(dir: &StateDir) -> Result<()> {
    dir.load_config()?;
    let _lock = dir.lock()?;
    let ctx = Ctx::open(dir, Progress::detect()).await?;
    let mut record = dir.load_sync();
    let current = dir
        .current_version()
        .ok_or_else(|| Coded(code::NOT_FOUND, "nothing runs on this host yet".into()))
        .hint("there is nothing to roll back; nothing was changed")?;
    let target = previous_release(dir, &current)?;
    let release = verified_target(&ctx, &current, &target).await?;
    eprintln!("rolling back {} from {current} to {target}", ctx.config.app);
    let mut repaired = Vec::new();
    journal::begin(dir, Step::Verified, &target)?;
    let applied = crate::apply::apply(&ctx, &release, &target, None, &mut repaired).await;
    journal::finish(dir);
    applied.with_context(|| format!("rollback from {current} to {target} failed"))?;
    let held = hold_back_assigned(dir, &mut record, &current, &target)?;
    record.status = Some(InstallStatus::Converged);
    record.target_version = None;
    record.last_error = None;
    dir.save_sync(&record)?;
    crate::sync::report(&ctx, &record).await;
    match held {
        Some(v) => eprintln!(
            "rolled back to {target}; {v} is held back until your vendor assigns another release"
        ),
        None => eprintln!("rolled back to {target}"),
    }
    Ok(())
}

/// The release document of `target`, verified again, once its images and descriptor
/// are known to be on the host; refuses, changing nothing, otherwise.
async fn verified_target(
    ctx: &Ctx<'_>,
    current: &str,
    target: &str,
) -> Result<driftless_wire::release::ReleaseDocument> {
    let (assignment_env, release_env) = ctx.dir.load_verified_envelopes(target)?;
    let trust = ctx.dir.load_trust()?;
    let verified = driftless_trust::verify_local_rollback(
        &trust,
        &ctx.config.install_id,
        &assignment_env,
        &release_env,
    );
    let release = match verified {
        Ok(release) => release,
        Err(e) => {
            let why = match &e {
                TrustError::BelowRollbackFloor { .. } => {
                    "the vendor signed a rollback floor above it into a newer release"
                }
                _ => "its stored documents no longer verify",
            };
            return Err(anyhow::Error::new(e)
                .context(format!("cannot roll back from {current} to {target}")))
            .hint(format!(
                "nothing was changed and {current} keeps running; {why}"
            ));
        }
    };
    if !crate::apply::ready_offline(ctx, &release, target).await? {
        return Err(Coded(
            code::NOT_FOUND,
            format!("the images or the descriptor of {target} are no longer on this host"),
        ))
        .hint(format!(
            "nothing was changed; {current} keeps running (a rollback pulls nothing: ask your vendor to assign {target})"
        ));
    }
    Ok(release)
}

/// The release to go back to: the highest release counter below `current`'s among the
/// stored releases that ran here.
fn previous_release(dir: &StateDir, current: &str) -> Result<String> {
    let (_, running, _) = dir.load_verified(current)?;
    let mut best: Option<(u64, String)> = None;
    for version in dir.stored_versions() {
        if version == current || !dir.has_run(&version) {
            continue;
        }
        let Ok((_, release, _)) = dir.load_verified(&version) else {
            continue;
        };
        let counter = release.release_counter;
        if counter < running.release_counter && best.as_ref().is_none_or(|(c, _)| counter > *c) {
            best = Some((counter, version));
        }
    }
    best.map(|(_, v)| v)
        .ok_or_else(|| {
            Coded(
                code::NOT_FOUND,
                format!("no release older than {current} ran on this host; there is nothing to roll back to"),
            )
        })
        .hint("nothing was changed; a rollback goes back only to a release this host verified and ran")
}

/// Holds back the release the host is assigned (it would otherwise be applied again at
/// the next sync), unless that is the rollback's target. Returns the held version.
fn hold_back_assigned(
    dir: &StateDir,
    record: &mut SyncRecord,
    current: &str,
    target: &str,
) -> Result<Option<String>> {
    let assigned = record
        .assigned_version
        .clone()
        .unwrap_or_else(|| current.to_string());
    if assigned == target {
        record.reason = None;
        return Ok(None);
    }
    let (release_env, _, _) = dir.load_verified(&assigned)?;
    let digest = Digest::of(&release_env.payload_bytes()?).to_string();
    let reason = Reason {
        code: ReasonCode::RolledBackByCustomer,
        detail: format!(
            "rolled back from {current} to {target} with `driftless rollback`; {assigned} is held back until the vendor assigns another release"
        ),
        check: None,
    };
    record.failed = Some(FailedRelease {
        version: assigned.clone(),
        digest,
        reason: reason.clone(),
    });
    record.reason = Some(reason);
    Ok(Some(assigned))
}

/// A rollback holds back one release digest: once the vendor assigns another, the hold
/// ends (even if the vendor later goes back to the held release).
pub fn end_hold_if_reassigned(record: &mut SyncRecord, assigned_digest: &str) {
    let ended = record.failed.as_ref().is_some_and(|f| {
        f.reason.code == ReasonCode::RolledBackByCustomer && f.digest != assigned_digest
    });
    if ended {
        record.failed = None;
    }
}

/// A sync whose assigned release a rollback holds back: the host keeps running what it
/// runs (drift is still repaired) and says why.
pub async fn stay_back(
    ctx: &Ctx<'_>,
    record: &mut SyncRecord,
    held: &FailedRelease,
    repaired: &mut Vec<String>,
) -> Result<SyncOutcome> {
    record.target_version = None;
    record.reason = Some(held.reason.clone());
    let current = ctx.dir.current_version();
    let mut changed = false;
    if let Some(v) = &current {
        let (_, release, _) = ctx.dir.load_verified(v)?;
        changed = crate::apply::apply(ctx, &release, v, None, repaired).await?;
    }
    let note = format!(
        "release {} is held back (`driftless rollback`); this host moves on when the vendor assigns another release",
        held.version
    );
    eprintln!("{note}");
    Ok(SyncOutcome {
        next_checkin_s: record.next_checkin_s,
        version: current,
        changed,
        repaired: vec![],
        message: Some(note),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(code: ReasonCode) -> SyncRecord {
        SyncRecord {
            failed: Some(FailedRelease {
                version: "2.0.0".into(),
                digest: "sha256:aa".into(),
                reason: Reason {
                    code,
                    detail: String::new(),
                    check: None,
                },
            }),
            ..SyncRecord::default()
        }
    }

    #[test]
    fn a_rollback_hold_ends_when_another_release_is_assigned_and_only_then() {
        let mut record = held(ReasonCode::RolledBackByCustomer);
        end_hold_if_reassigned(&mut record, "sha256:aa");
        assert!(record.failed.is_some(), "the same release ended the hold");
        end_hold_if_reassigned(&mut record, "sha256:bb");
        assert!(record.failed.is_none(), "another release kept the hold");

        // A release that failed its health check stays held back, as before.
        let mut record = held(ReasonCode::HealthFailed);
        end_hold_if_reassigned(&mut record, "sha256:bb");
        assert!(record.failed.is_some());
    }
}
