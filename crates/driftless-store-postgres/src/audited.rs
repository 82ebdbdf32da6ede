//! [`driftless_store::Store::apply_audited`]: an audited change and its audit entry on
//! one transaction (the chain's advisory lock is taken by the append, after the change,
//! so the head cannot move under it) and a
//! change never commits without its entry.

use driftless_store::{entry_for, Applied, AuditEvent, AuditedChange, StoreError, StoreResult};
use driftless_store::{CheckinReport, Install, ReceiptLink};
use sqlx::{PgConnection, PgPool};

use crate::error::backend;
use crate::{audit, catalog, fleet, licensing, policies, principals, replicas, rollouts};
use crate::{receipts, support_bundles, webhooks};

pub(crate) async fn apply_audited(
    pool: &PgPool,
    change: &AuditedChange,
    events: &[AuditEvent],
) -> StoreResult<Applied> {
    if events.is_empty() {
        return Err(StoreError::Backend(
            "an audited change needs an audit entry".into(),
        ));
    }
    let mut tx = pool.begin().await.map_err(backend)?;
    let applied = match apply_in(&mut tx, change).await {
        Ok(applied) if applied.happened() => applied,
        other => {
            tx.rollback().await.map_err(backend)?;
            return other;
        }
    };
    for event in events {
        if let Err(e) = audit::append_in(&mut tx, &entry_for(event, &applied)).await {
            tx.rollback().await.map_err(backend)?;
            return Err(e);
        }
    }
    tx.commit().await.map_err(backend)?;
    Ok(applied)
}

/// Makes `change` on the caller's transaction, with the same code as the matching
/// [`driftless_store::Store`] method.
async fn apply_in(conn: &mut PgConnection, change: &AuditedChange) -> StoreResult<Applied> {
    use AuditedChange as C;
    Ok(match change {
        C::CreateApp { name, now } => Applied::App(catalog::create_app(conn, name, *now).await?),
        C::CreateChannel { app, name, now } => {
            Applied::Channel(catalog::create_channel(conn, app, name, *now).await?)
        }
        C::SetChannelRelease {
            app,
            channel,
            version,
            now,
        } => done(catalog::set_channel_release(conn, app, channel, version, *now).await?),
        C::SetChannelPolicy {
            app,
            channel,
            policy_json,
            now,
        } => done(policies::set_channel_policy(conn, app, channel, policy_json, *now).await?),
        C::InsertRelease(release) => done(catalog::insert_release(conn, release).await?),
        C::SetReleaseState {
            app,
            version,
            state,
            channel_moves,
            now,
        } => {
            if !catalog::set_release_state(conn, app, version, *state).await? {
                return Ok(Applied::Absent);
            }
            for (channel, to) in channel_moves {
                catalog::set_channel_release(conn, app, channel, to, *now).await?;
            }
            Applied::Done
        }
        C::CreateCustomer { name, now } => {
            Applied::Customer(licensing::create_customer(conn, name, *now).await?)
        }
        C::CreateLicense { license, terms } => {
            licensing::create_license(conn, license).await?;
            if *terms != Default::default() {
                licensing::set_license_terms(conn, &license.id, terms).await?;
            }
            Applied::Done
        }
        C::SetLicenseTerms { id, terms } => {
            found(licensing::set_license_terms(conn, id, terms).await?)
        }
        C::RevokeLicense { id, now } => found(licensing::revoke_license(conn, id, *now).await?),
        C::CreateUser { user, token } => {
            principals::create_user(conn, user).await?;
            principals::create_api_token(conn, token).await?;
            Applied::Done
        }
        C::RevokeUser { name, now } => found(principals::revoke_user(conn, name, *now).await?),
        C::CreateApiToken(token) => done(principals::create_api_token(conn, token).await?),
        C::RevokeApiToken { id, now } => found(principals::revoke_api_token(conn, id, *now).await?),
        C::RotateApiToken { old, new, now } => {
            if !principals::revoke_api_token(conn, old, *now).await? {
                return Ok(Applied::Absent);
            }
            principals::create_api_token(conn, new).await?;
            Applied::Done
        }
        C::RegisterInstall(install) => match licensing::register_install(conn, install).await? {
            true => Applied::Done,
            false => Applied::NoSeat,
        },
        C::RevokeInstall { id, now } => found(fleet::revoke_install(conn, id, *now).await?),
        C::UninstallInstall { id, now } => found(fleet::uninstall_install(conn, id, *now).await?),
        C::MoveInstall { id, channel } => done(fleet::move_install(conn, id, channel).await?),
        C::CreateWebhook(hook) => Applied::Webhook(webhooks::create_webhook(conn, hook).await?),
        C::DeleteWebhook { app, id } => found(webhooks::delete_webhook(conn, app, *id).await?),
        C::PutSupportBundle {
            install_id,
            bytes,
            digest,
            now,
        } => Applied::SupportBundle(
            support_bundles::put_support_bundle(conn, install_id, bytes, digest, *now).await?,
        ),
        C::PutArtifact { digest, bytes, now } => {
            replicas::put_artifact(conn, digest, bytes, *now).await?;
            Applied::Done
        }
        C::CreateRollout(rollout) => {
            Applied::Rollout(rollouts::create_rollout(conn, rollout).await?)
        }
        C::ImportReceipt {
            install,
            previous,
            sequence,
            digest,
            report,
        } => {
            import_receipt(
                conn,
                install,
                previous.as_deref(),
                *sequence,
                digest,
                report,
            )
            .await?
        }
    })
}

/// Stores the install at its first receipt, links the receipt onto its chain and
/// records what it reports; refused (for the caller to roll back) when it does not
/// follow the last receipt imported.
async fn import_receipt(
    conn: &mut PgConnection,
    install: &Install,
    previous: Option<&str>,
    sequence: i64,
    digest: &str,
    report: &CheckinReport,
) -> StoreResult<Applied> {
    if fleet::get_install(&mut *conn, &install.id).await?.is_none() {
        fleet::create_install(conn, install).await?;
    }
    let link = receipts::link_receipt(conn, &install.id, previous, sequence, digest).await?;
    if let ReceiptLink::Refused { sequence, digest } = link {
        return Ok(Applied::ReceiptRefused { sequence, digest });
    }
    fleet::record_checkin(&mut *conn, &install.id, report, None).await?;
    Ok(Applied::Done)
}

/// A change that either happened or failed with an error.
fn done((): ()) -> Applied {
    Applied::Done
}

/// A change that found its row (`true`) or nothing to change.
fn found(found: bool) -> Applied {
    if found {
        Applied::Done
    } else {
        Applied::Absent
    }
}
