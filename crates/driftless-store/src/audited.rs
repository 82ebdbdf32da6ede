//! The changes the control plane audits, each applied with its audit entry in one
//! transaction by [`crate::Store::apply_audited`]: a change is never stored without its
//! entry, nor an entry without its change, and entries chain in the order the changes
//! committed.

use crate::{
    ApiToken, App, AuditEvent, Channel, CheckinReport, Customer, Install, License, LicenseTerms,
    NewWebhook, Release, ReleaseState, Rollout, SupportBundleInfo, User, Webhook,
};

/// One audited change, with what the matching [`crate::Store`] method takes.
#[derive(Clone, Debug)]
pub enum AuditedChange {
    /// [`crate::Store::create_app`].
    CreateApp {
        /// The app's name.
        name: String,
        /// Unix seconds.
        now: i64,
    },
    /// [`crate::Store::create_channel`].
    CreateChannel {
        /// The channel's app.
        app: String,
        /// The channel's name.
        name: String,
        /// Unix seconds.
        now: i64,
    },
    /// [`crate::Store::set_channel_release`]: a promotion.
    SetChannelRelease {
        /// The channel's app.
        app: String,
        /// The channel.
        channel: String,
        /// The release it points at from now on.
        version: String,
        /// Unix seconds.
        now: i64,
    },
    /// [`crate::Store::set_channel_policy`].
    SetChannelPolicy {
        /// The channel's app.
        app: String,
        /// The channel.
        channel: String,
        /// The policy (JSON the control plane owns).
        policy_json: String,
        /// Unix seconds.
        now: i64,
    },
    /// [`crate::Store::insert_release`].
    InsertRelease(Release),
    /// [`crate::Store::set_release_state`], then each channel in `channel_moves`
    /// pointed at its release (a yank sends channels back); `Absent` if no such release.
    SetReleaseState {
        /// The release's app.
        app: String,
        /// The release.
        version: String,
        /// Its new state.
        state: ReleaseState,
        /// (channel, version) pairs: where the channels that named the release go.
        channel_moves: Vec<(String, String)>,
        /// Unix seconds, the moves' time.
        now: i64,
    },
    /// [`crate::Store::create_customer`].
    CreateCustomer {
        /// The customer's name.
        name: String,
        /// Unix seconds.
        now: i64,
    },
    /// [`crate::Store::create_license`] with its terms (none stored when they are the
    /// defaults), so no install can register under the defaults in between.
    CreateLicense {
        /// The license.
        license: License,
        /// Its terms.
        terms: LicenseTerms,
    },
    /// [`crate::Store::set_license_terms`]; `Absent` if no such license.
    SetLicenseTerms {
        /// The license.
        id: String,
        /// Its new terms.
        terms: LicenseTerms,
    },
    /// [`crate::Store::revoke_license`]; `Absent` if no such license.
    RevokeLicense {
        /// The license.
        id: String,
        /// Unix seconds.
        now: i64,
    },
    /// [`crate::Store::create_user`] with the user's first token.
    CreateUser {
        /// The user.
        user: User,
        /// Their first API token.
        token: ApiToken,
    },
    /// [`crate::Store::revoke_user`]; `Absent` if no such live user.
    RevokeUser {
        /// The user's name.
        name: String,
        /// Unix seconds.
        now: i64,
    },
    /// [`crate::Store::create_api_token`].
    CreateApiToken(ApiToken),
    /// [`crate::Store::revoke_api_token`]; `Absent` if no such live token.
    RevokeApiToken {
        /// The token's id.
        id: String,
        /// Unix seconds.
        now: i64,
    },
    /// A new token stored and the old one revoked; `Absent` (and no new token) if the
    /// old one is not live.
    RotateApiToken {
        /// The old token's id.
        old: String,
        /// The new token.
        new: ApiToken,
        /// Unix seconds.
        now: i64,
    },
    /// [`crate::Store::register_install`]; `NoSeat` when its license has none left.
    RegisterInstall(Install),
    /// [`crate::Store::revoke_install`]; `Absent` if no such install.
    RevokeInstall {
        /// The install.
        id: String,
        /// Unix seconds.
        now: i64,
    },
    /// [`crate::Store::uninstall_install`]; `Absent` if no such install.
    UninstallInstall {
        /// The install.
        id: String,
        /// Unix seconds.
        now: i64,
    },
    /// [`crate::Store::move_install`].
    MoveInstall {
        /// The install.
        id: String,
        /// The channel it follows from now on.
        channel: String,
    },
    /// [`crate::Store::create_webhook`]; the entry may name the new id (see
    /// [`ASSIGNED_ID`]).
    CreateWebhook(NewWebhook),
    /// [`crate::Store::delete_webhook`]; `Absent` if no such webhook.
    DeleteWebhook {
        /// The webhook's app.
        app: String,
        /// The webhook.
        id: u64,
    },
    /// [`crate::Store::put_support_bundle`]; the entry may name the new bundle's
    /// number (see [`ASSIGNED_ID`]).
    PutSupportBundle {
        /// The install that uploaded it.
        install_id: String,
        /// The bundle.
        bytes: Vec<u8>,
        /// Its `sha256:` digest.
        digest: String,
        /// Unix seconds.
        now: i64,
    },
    /// [`crate::Store::put_artifact`]: an upload is recorded even when the same bytes
    /// were stored already (they are kept as they were).
    PutArtifact {
        /// Its `sha256:` digest.
        digest: String,
        /// The artifact.
        bytes: Vec<u8>,
        /// Unix seconds.
        now: i64,
    },
    /// [`crate::Store::create_rollout`].
    CreateRollout(Rollout),
    /// A status receipt of an air-gapped install: the install stored at its first
    /// receipt, [`crate::Store::link_receipt`], then what it reports recorded as a
    /// check-in; `ReceiptRefused` (and nothing stored, not even the install) when the
    /// receipt does not follow the last one imported.
    ImportReceipt {
        /// The install, stored if it does not exist yet.
        install: Install,
        /// The digest of the receipt it names as its previous.
        previous: Option<String>,
        /// Its sequence number.
        sequence: i64,
        /// Its payload's digest.
        digest: String,
        /// What it reports (boxed: the largest of the changes by far).
        report: Box<CheckinReport>,
    },
}

/// What [`crate::Store::apply_audited`] did. Only `Absent`, `NoSeat` and `ReceiptRefused`
/// leave the database as it was, without an entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// The change and its entry are stored.
    Done,
    /// The app is created.
    App(App),
    /// The channel is created.
    Channel(Channel),
    /// The customer is created.
    Customer(Customer),
    /// The webhook is registered, with its id.
    Webhook(Webhook),
    /// The support bundle is stored, with its number.
    SupportBundle(SupportBundleInfo),
    /// The rollout is stored, with its id.
    Rollout(i64),
    /// Nothing to change (no such row, or not live): nothing stored, no entry.
    Absent,
    /// The install's license has no seat left: nothing stored, no entry.
    NoSeat,
    /// The receipt does not follow the last one imported (numbered `sequence`, with
    /// payload digest `digest`): nothing stored, no entry.
    ReceiptRefused {
        /// The last receipt imported.
        sequence: i64,
        /// Its payload's digest.
        digest: String,
    },
}

impl Applied {
    /// Whether the change was made (and its entry written).
    pub fn happened(&self) -> bool {
        !matches!(
            self,
            Applied::Absent | Applied::NoSeat | Applied::ReceiptRefused { .. }
        )
    }

    /// The id the database assigned to what was created, if the change created such.
    pub fn assigned_id(&self) -> Option<u64> {
        match self {
            Applied::Webhook(hook) => Some(hook.id),
            Applied::SupportBundle(bundle) => Some(bundle.id),
            _ => None,
        }
    }
}

/// Stands for the id the database assigns (a webhook's, a support bundle's number) in
/// an audited creation's event: in its subject as is, in its detail as the JSON string
/// `"{id}"`, which becomes the number.
pub const ASSIGNED_ID: &str = "{id}";

/// The entry to append for `event` once the change produced `applied`: [`ASSIGNED_ID`]
/// replaced by the id the database assigned, if any.
pub fn entry_for(event: &AuditEvent, applied: &Applied) -> AuditEvent {
    let Some(id) = applied.assigned_id() else {
        return event.clone();
    };
    AuditEvent {
        subject: event.subject.replace(ASSIGNED_ID, &id.to_string()),
        detail: event
            .detail
            .replace(&format!("\"{ASSIGNED_ID}\""), &id.to_string()),
        ..event.clone()
    }
}

/// Defines, in the invoking backend's module, `changes::apply_in(conn, change)`: makes
/// an [`AuditedChange`] on the caller's transaction (`$conn`: the backend's connection
/// type), with the same code as the matching [`crate::Store`] method. Both backends
/// expand it, so the dispatch is written once: it calls the backend's own modules
/// (`catalog`, `fleet`, `licensing`, `policies`, `principals`, `receipts`, `replicas`,
/// `rollouts`, `support_bundles`, `webhooks`), which must be in scope where it is
/// invoked and have the same functions in both backends.
#[macro_export]
macro_rules! audited_changes {
    ($conn:ty) => {
        mod changes {
            #[allow(unused_imports)]
            use super::*;
            use $crate::{
                Applied, AuditedChange, CheckinReport, Install, ReceiptLink, StoreResult,
            };

            /// Makes `change` on the caller's transaction, with the same code as the matching
            /// [`driftless_store::Store`] method.
            pub(super) async fn apply_in(
                conn: &mut $conn,
                change: &AuditedChange,
            ) -> StoreResult<Applied> {
                use AuditedChange as C;
                Ok(match change {
                    C::CreateApp { name, now } => {
                        Applied::App(catalog::create_app(conn, name, *now).await?)
                    }
                    C::CreateChannel { app, name, now } => {
                        Applied::Channel(catalog::create_channel(conn, app, name, *now).await?)
                    }
                    C::SetChannelRelease {
                        app,
                        channel,
                        version,
                        now,
                    } => {
                        done(catalog::set_channel_release(conn, app, channel, version, *now).await?)
                    }
                    C::SetChannelPolicy {
                        app,
                        channel,
                        policy_json,
                        now,
                    } => done(
                        policies::set_channel_policy(conn, app, channel, policy_json, *now).await?,
                    ),
                    C::InsertRelease(release) => {
                        done(catalog::insert_release(conn, release).await?)
                    }
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
                    C::RevokeLicense { id, now } => {
                        found(licensing::revoke_license(conn, id, *now).await?)
                    }
                    C::CreateUser { user, token } => {
                        principals::create_user(conn, user).await?;
                        principals::create_api_token(conn, token).await?;
                        Applied::Done
                    }
                    C::RevokeUser { name, now } => {
                        found(principals::revoke_user(conn, name, *now).await?)
                    }
                    C::CreateApiToken(token) => {
                        done(principals::create_api_token(conn, token).await?)
                    }
                    C::RevokeApiToken { id, now } => {
                        found(principals::revoke_api_token(conn, id, *now).await?)
                    }
                    C::RotateApiToken { old, new, now } => {
                        if !principals::revoke_api_token(conn, old, *now).await? {
                            return Ok(Applied::Absent);
                        }
                        principals::create_api_token(conn, new).await?;
                        Applied::Done
                    }
                    C::RegisterInstall(install) => {
                        match fleet::register_install(conn, install).await? {
                            true => Applied::Done,
                            false => Applied::NoSeat,
                        }
                    }
                    C::RevokeInstall { id, now } => {
                        found(fleet::revoke_install(conn, id, *now).await?)
                    }
                    C::UninstallInstall { id, now } => {
                        found(fleet::uninstall_install(conn, id, *now).await?)
                    }
                    C::MoveInstall { id, channel } => {
                        done(fleet::move_install(conn, id, channel).await?)
                    }
                    C::CreateWebhook(hook) => {
                        Applied::Webhook(webhooks::create_webhook(conn, hook).await?)
                    }
                    C::DeleteWebhook { app, id } => {
                        found(webhooks::delete_webhook(conn, app, *id).await?)
                    }
                    C::PutSupportBundle {
                        install_id,
                        bytes,
                        digest,
                        now,
                    } => Applied::SupportBundle(
                        support_bundles::put_support_bundle(conn, install_id, bytes, digest, *now)
                            .await?,
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
                conn: &mut $conn,
                install: &Install,
                previous: Option<&str>,
                sequence: i64,
                digest: &str,
                report: &CheckinReport,
            ) -> StoreResult<Applied> {
                if fleet::get_install(&mut *conn, &install.id).await?.is_none() {
                    fleet::create_install(conn, install).await?;
                }
                let link =
                    receipts::link_receipt(conn, &install.id, previous, sequence, digest).await?;
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
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(subject: &str, detail: &str) -> AuditEvent {
        AuditEvent {
            at: 1,
            actor: "user:ann".into(),
            action: "webhook.add".into(),
            subject: subject.into(),
            detail: detail.into(),
            request_id: "r1".into(),
        }
    }

    #[test]
    fn assigned_id_fills_subject_and_detail() {
        let bundle = SupportBundleInfo {
            id: 7,
            install_id: "ins_1".into(),
            size: 3,
            digest: "sha256:00".into(),
            created_at: 1,
        };
        let e = entry_for(
            &event("ins_1", r#"{"bundle":"{id}","size":3}"#),
            &Applied::SupportBundle(bundle),
        );
        assert_eq!(e.detail, r#"{"bundle":7,"size":3}"#);
        assert_eq!(e.subject, "ins_1");
    }

    #[test]
    fn event_without_assigned_id_is_kept() {
        let e = event("acme/webhooks/{id}", "{}");
        assert_eq!(entry_for(&e, &Applied::Done), e);
    }
}
