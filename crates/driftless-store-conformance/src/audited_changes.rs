//! [`Store::apply_audited`]: a change and its audit entry are stored together or not at
//! all. A change that happens adds exactly one entry, chained; one that does not
//! happen (a duplicate, a missing row, no seat) adds none; and when the entry cannot
//! be written (a trigger on `audit_log` refuses every insert), the change is not kept.

use std::future::Future;
use std::sync::Arc;

use driftless_store::{
    ApiToken, Applied, AuditEvent, AuditedChange, CheckinReport, License, LicenseTerms, NewWebhook,
    ReleaseState, Store, StoreError,
};

use driftless_store::audit_chain::{entry_hash, GENESIS_HASH};

use crate::{install_of, seed_install, seed_license, seed_releases, NOW};

/// Generates the checks that need no raw access to the database.
#[macro_export]
macro_rules! audited_change_conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@each $open;
            an_audited_app_creation_adds_it_and_one_entry,
            an_audited_license_keeps_its_terms_and_adds_one_entry,
            an_audited_install_revocation_adds_one_entry_or_none,
            an_audited_token_rotation_is_both_halves_or_neither,
            an_audited_registration_takes_a_seat_or_writes_nothing,
            an_audited_webhook_entry_names_its_assigned_id,
            a_refused_receipt_stores_nothing_and_adds_no_entry,
            a_change_takes_its_entries_in_order_and_none_without_one,
            an_audited_yank_sends_the_channel_back_with_one_entry,
        );
    };
}

/// Makes the database behind a store refuse, then accept again, every audit insert.
pub trait AuditFault: Send + Sync {
    /// From now on every insert into `audit_log` fails (a trigger that raises).
    fn break_audit_log(&self) -> impl Future<Output = ()> + Send;
    /// Drops that trigger.
    fn mend_audit_log(&self) -> impl Future<Output = ()> + Send;
}

/// Generates the checks that make the audit insert fail: `$open` gives `(store, guard)`
/// and `$fault(&guard)` an [`AuditFault`] on the same database.
#[macro_export]
macro_rules! audit_fault_conformance_tests {
    ($open:path, $fault:path) => {
        $crate::audit_fault_conformance_tests!(@each $open, $fault;
            a_failed_entry_keeps_no_app,
            a_failed_entry_keeps_no_license_nor_terms,
            a_failed_entry_keeps_the_install_live,
            a_failed_entry_keeps_the_old_token_and_no_new_one,
            a_failed_entry_keeps_no_registration,
            a_failed_entry_keeps_the_release_and_its_channel,
        );
    };
    (@each $open:path, $fault:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let (store, guard) = $open().await;
                let fault = $fault(&guard).await;
                $crate::$check(std::sync::Arc::new(store), fault).await;
            }
        )*
    };
}

/// The entry of `action` on `subject` a check applies with.
fn event(action: &str, subject: &str) -> AuditEvent {
    AuditEvent {
        at: NOW,
        actor: "user:ann".into(),
        action: action.into(),
        subject: subject.into(),
        detail: "{}".into(),
        request_id: format!("req-{action}"),
    }
}

/// Applies `change` with the one entry `event`.
async fn apply<S: Store>(
    store: &S,
    change: &AuditedChange,
    event: &AuditEvent,
) -> driftless_store::StoreResult<Applied> {
    store
        .apply_audited(change, std::slice::from_ref(event))
        .await
}

/// The whole log, newest first, after checking that it chains from the genesis hash
/// without a gap (the chain as `audit verify` checks it, request ids included).
async fn log<S: Store>(store: &S) -> Vec<driftless_store::AuditEntry> {
    let log = store.list_audit(1000).await.unwrap();
    let mut prev = GENESIS_HASH.to_owned();
    for (i, entry) in log.iter().rev().enumerate() {
        assert_eq!(entry.seq, i as u64 + 1, "the log has a gap");
        assert_eq!(
            entry.hash,
            entry_hash(&prev, &entry.event),
            "entry {} breaks the chain",
            entry.seq
        );
        prev = entry.hash.clone();
    }
    log
}

/// Asserts the log holds exactly `expected`, oldest first.
async fn assert_log<S: Store>(store: &S, expected: &[&AuditEvent]) {
    let stored: Vec<AuditEvent> = log(store)
        .await
        .into_iter()
        .rev()
        .map(|e| e.event)
        .collect();
    let expected: Vec<AuditEvent> = expected.iter().map(|e| (*e).clone()).collect();
    assert_eq!(stored, expected);
}

fn create_app(name: &str) -> AuditedChange {
    AuditedChange::CreateApp {
        name: name.into(),
        now: NOW,
    }
}

fn terms() -> LicenseTerms {
    LicenseTerms {
        seats: Some(1),
        grace_s: 60,
        ..LicenseTerms::default()
    }
}

/// A license `lic-<id>` of app `app`'s channel `stable` for customer `cust`.
fn license(app: &str, id: &str) -> License {
    License {
        id: format!("lic-{id}"),
        customer: "cust".into(),
        app: app.into(),
        channel: "stable".into(),
        key_hash: format!("{:0>64}", hex::encode(id)),
        revoked: false,
        created_at: NOW,
    }
}

fn token(id: &str) -> ApiToken {
    ApiToken {
        id: id.into(),
        user: None,
        role: "ci-publisher".into(),
        app: Some("acme".into()),
        token_sha256: format!("{:0>64}", hex::encode(id)),
        created_at: NOW,
        expires_at: NOW + 3600,
        revoked_at: None,
    }
}

/// Creating an app adds it and one entry; a duplicate conflicts and adds no entry.
pub async fn an_audited_app_creation_adds_it_and_one_entry<S: Store>(store: Arc<S>) {
    let e = event("app.create", "acme");
    let applied = apply(&*store, &create_app("acme"), &e).await.unwrap();
    assert!(matches!(applied, Applied::App(ref app) if app.name == "acme"));
    assert!(store.get_app("acme").await.unwrap().is_some());
    assert_log(&*store, &[&e]).await;
    let again = apply(&*store, &create_app("acme"), &e).await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    assert_log(&*store, &[&e]).await;
}

/// A license and its terms are stored with one entry; one whose customer is missing
/// stores nothing and adds no entry.
pub async fn an_audited_license_keeps_its_terms_and_adds_one_entry<S: Store>(store: Arc<S>) {
    seed_license(&*store, "acme").await;
    let lic = license("acme", "two");
    let change = AuditedChange::CreateLicense {
        license: lic.clone(),
        terms: terms(),
    };
    let e = event("license.create", &lic.id);
    assert_eq!(apply(&*store, &change, &e).await.unwrap(), Applied::Done);
    assert_eq!(
        store.get_license(&lic.id).await.unwrap(),
        Some((lic, terms()))
    );
    assert_log(&*store, &[&e]).await;
    let orphan = License {
        customer: "nobody".into(),
        ..license("acme", "three")
    };
    let change = AuditedChange::CreateLicense {
        license: orphan.clone(),
        terms: terms(),
    };
    let refused = apply(&*store, &change, &event("license.create", "x")).await;
    assert!(
        matches!(refused, Err(StoreError::Missing { .. })),
        "{refused:?}"
    );
    assert!(store.get_license(&orphan.id).await.unwrap().is_none());
    assert_log(&*store, &[&e]).await;
}

/// Revoking an install adds one entry; revoking one that does not exist is `Absent`
/// and adds none.
pub async fn an_audited_install_revocation_adds_one_entry_or_none<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "ins-1").await;
    let revoke = |id: &str| AuditedChange::RevokeInstall {
        id: id.into(),
        now: NOW,
    };
    let e = event("install.revoke", "ins-1");
    assert_eq!(
        apply(&*store, &revoke("ins-1"), &e).await.unwrap(),
        Applied::Done
    );
    assert!(store.get_install("ins-1").await.unwrap().unwrap().revoked);
    let absent = apply(&*store, &revoke("ins-9"), &event("install.revoke", "ins-9")).await;
    assert_eq!(absent.unwrap(), Applied::Absent);
    assert_log(&*store, &[&e]).await;
}

/// A rotation stores the new token and revokes the old one with one entry; rotating a
/// token that is not live stores no new token and adds no entry.
pub async fn an_audited_token_rotation_is_both_halves_or_neither<S: Store>(store: Arc<S>) {
    store.create_app("acme", NOW).await.unwrap();
    store.create_api_token(&token("old")).await.unwrap();
    let rotate = |old: &str, new: &str| AuditedChange::RotateApiToken {
        old: old.into(),
        new: token(new),
        now: NOW + 1,
    };
    let e = event("token.rotate", "token:old");
    assert_eq!(
        apply(&*store, &rotate("old", "new"), &e).await.unwrap(),
        Applied::Done
    );
    let tokens = store.list_api_tokens().await.unwrap();
    let old = tokens.iter().find(|t| t.id == "old").unwrap();
    assert_eq!(old.revoked_at, Some(NOW + 1));
    assert!(tokens
        .iter()
        .any(|t| t.id == "new" && t.revoked_at.is_none()));
    // The old one is revoked now: rotating it again does nothing.
    let again = apply(
        &*store,
        &rotate("old", "newer"),
        &event("token.rotate", "again"),
    )
    .await;
    assert_eq!(again.unwrap(), Applied::Absent);
    let ids: Vec<String> = store
        .list_api_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert!(!ids.contains(&"newer".to_string()), "{ids:?}");
    assert_log(&*store, &[&e]).await;
}

/// A registration takes the license's one seat with one entry; the next finds no seat,
/// stores nothing and adds no entry.
pub async fn an_audited_registration_takes_a_seat_or_writes_nothing<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    assert!(store
        .set_license_terms(&license.id, &terms())
        .await
        .unwrap());
    let register = |id: &str| AuditedChange::RegisterInstall(install_of(&license, id));
    let e = event("install.register", "ins-1");
    assert_eq!(
        apply(&*store, &register("ins-1"), &e).await.unwrap(),
        Applied::Done
    );
    let full = apply(
        &*store,
        &register("ins-2"),
        &event("install.register", "ins-2"),
    )
    .await;
    assert_eq!(full.unwrap(), Applied::NoSeat);
    assert!(store.get_install("ins-2").await.unwrap().is_none());
    assert_log(&*store, &[&e]).await;
}

/// A webhook's entry names the id the database assigned it.
pub async fn an_audited_webhook_entry_names_its_assigned_id<S: Store>(store: Arc<S>) {
    store.create_app("acme", NOW).await.unwrap();
    let change = AuditedChange::CreateWebhook(NewWebhook {
        app: "acme".into(),
        url: "https://hooks.example/x".into(),
        events: vec![],
        secret: "s".into(),
        created_at: NOW,
    });
    let e = AuditEvent {
        detail: r#"{"webhook":"{id}"}"#.into(),
        ..event("webhook.add", "acme/webhooks/{id}")
    };
    let Applied::Webhook(hook) = apply(&*store, &change, &e).await.unwrap() else {
        panic!("a webhook creation answers the webhook");
    };
    let entry = &log(&*store).await[0].event;
    assert_eq!(entry.subject, format!("acme/webhooks/{}", hook.id));
    assert_eq!(entry.detail, format!(r#"{{"webhook":{}}}"#, hook.id));
}

/// Applies `change` while the audit log refuses inserts: the call fails. The log is
/// unchanged afterwards (the trigger dropped again).
async fn apply_with_broken_log<S: Store, F: AuditFault>(
    store: &S,
    fault: &F,
    change: &AuditedChange,
) {
    let before = log(store).await;
    fault.break_audit_log().await;
    let result = apply(store, change, &event("broken", "x")).await;
    fault.mend_audit_log().await;
    assert!(
        result.is_err(),
        "the change was applied without its entry: {result:?}"
    );
    assert_eq!(log(store).await, before);
}

/// An app whose entry could not be written does not exist.
pub async fn a_failed_entry_keeps_no_app<S: Store, F: AuditFault>(store: Arc<S>, fault: F) {
    apply_with_broken_log(&*store, &fault, &create_app("acme")).await;
    assert!(store.get_app("acme").await.unwrap().is_none());
}

/// A license whose entry could not be written does not exist, nor do its terms.
pub async fn a_failed_entry_keeps_no_license_nor_terms<S: Store, F: AuditFault>(
    store: Arc<S>,
    fault: F,
) {
    seed_license(&*store, "acme").await;
    let lic = license("acme", "two");
    let change = AuditedChange::CreateLicense {
        license: lic.clone(),
        terms: terms(),
    };
    apply_with_broken_log(&*store, &fault, &change).await;
    assert!(store.get_license(&lic.id).await.unwrap().is_none());
}

/// An install whose revocation's entry could not be written is still live.
pub async fn a_failed_entry_keeps_the_install_live<S: Store, F: AuditFault>(
    store: Arc<S>,
    fault: F,
) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "ins-1").await;
    let change = AuditedChange::RevokeInstall {
        id: "ins-1".into(),
        now: NOW,
    };
    apply_with_broken_log(&*store, &fault, &change).await;
    assert!(!store.get_install("ins-1").await.unwrap().unwrap().revoked);
}

/// A rotation whose entry could not be written leaves the old token live and stores
/// no new one.
pub async fn a_failed_entry_keeps_the_old_token_and_no_new_one<S: Store, F: AuditFault>(
    store: Arc<S>,
    fault: F,
) {
    store.create_app("acme", NOW).await.unwrap();
    store.create_api_token(&token("old")).await.unwrap();
    let change = AuditedChange::RotateApiToken {
        old: "old".into(),
        new: token("new"),
        now: NOW + 1,
    };
    apply_with_broken_log(&*store, &fault, &change).await;
    let tokens = store.list_api_tokens().await.unwrap();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert!(tokens[0].id == "old" && tokens[0].revoked_at.is_none());
}

/// A registration whose entry could not be written takes no seat.
pub async fn a_failed_entry_keeps_no_registration<S: Store, F: AuditFault>(
    store: Arc<S>,
    fault: F,
) {
    let license = seed_license(&*store, "acme").await;
    assert!(store
        .set_license_terms(&license.id, &terms())
        .await
        .unwrap());
    let change = AuditedChange::RegisterInstall(install_of(&license, "ins-1"));
    apply_with_broken_log(&*store, &fault, &change).await;
    assert!(store.get_install("ins-1").await.unwrap().is_none());
    // The seat is still free.
    let e = event("install.register", "ins-2");
    let change = AuditedChange::RegisterInstall(install_of(&license, "ins-2"));
    assert_eq!(apply(&*store, &change, &e).await.unwrap(), Applied::Done);
}

/// A receipt of a new air-gapped install stores the install, its chain and its report
/// with one entry; one that does not follow the last one imported is refused, naming
/// it, and stores nothing and adds no entry.
pub async fn a_refused_receipt_stores_nothing_and_adds_no_entry<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    let report = |status: &str| CheckinReport {
        at: NOW,
        status: status.into(),
        version: None,
        release_counter: None,
        cli_version: "1.0.0".into(),
        free_disk_bytes: None,
        target_version: None,
        reason: None,
        policy: None,
        waiting: None,
    };
    let receipt = |sequence: i64, previous: Option<&str>, digest: &str, status: &str| {
        AuditedChange::ImportReceipt {
            install: install_of(&license, "airgap-1"),
            previous: previous.map(str::to_string),
            sequence,
            digest: digest.into(),
            report: Box::new(report(status)),
        }
    };
    let e = event("install.receipt", "airgap-1");
    let first = receipt(1, None, "sha256:01", "running");
    assert_eq!(apply(&*store, &first, &e).await.unwrap(), Applied::Done);
    assert!(store.get_install("airgap-1").await.unwrap().is_some());
    // A fork: it names a receipt that is not the last one imported.
    let fork = receipt(2, Some("sha256:ff"), "sha256:02", "failed");
    let refused = apply(&*store, &fork, &event("install.receipt", "fork")).await;
    assert_eq!(
        refused.unwrap(),
        Applied::ReceiptRefused {
            sequence: 1,
            digest: "sha256:01".into()
        }
    );
    let fleet = store.list_installs(Some("acme")).await.unwrap();
    let shown = fleet.iter().find(|i| i.install.id == "airgap-1").unwrap();
    assert_eq!(shown.last_report.as_ref().unwrap().status, "running");
    assert_log(&*store, &[&e]).await;
}

/// Entries decided on before the change (a gate override) are appended first, in
/// order; a change given no entry is refused and not made.
pub async fn a_change_takes_its_entries_in_order_and_none_without_one<S: Store>(store: Arc<S>) {
    let refused = store.apply_audited(&create_app("acme"), &[]).await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(store.get_app("acme").await.unwrap().is_none());
    let events = [event("gate.override", "acme"), event("app.create", "acme")];
    let applied = store.apply_audited(&create_app("acme"), &events).await;
    assert!(matches!(applied, Ok(Applied::App(_))), "{applied:?}");
    assert_log(&*store, &[&events[0], &events[1]]).await;
}

/// Channel `stable` of `acme` on 1.1.0 after 1.0.0; the yank of 1.1.0 that sends it
/// back to 1.0.0.
async fn yank_setup<S: Store>(store: &S) -> AuditedChange {
    store.create_app("acme", NOW).await.unwrap();
    store.create_channel("acme", "stable", NOW).await.unwrap();
    seed_releases(store, "acme", &["1.0.0", "1.1.0"]).await;
    for version in ["1.0.0", "1.1.0"] {
        store
            .set_channel_release("acme", "stable", version, NOW)
            .await
            .unwrap();
    }
    AuditedChange::SetReleaseState {
        app: "acme".into(),
        version: "1.1.0".into(),
        state: ReleaseState::Yanked,
        channel_moves: vec![("stable".into(), "1.0.0".into())],
        now: NOW + 1,
    }
}

/// The state of release `version` of `acme`, and the version `stable` points at.
async fn release_and_channel<S: Store>(store: &S, version: &str) -> (ReleaseState, String) {
    let release = store.get_release("acme", version).await.unwrap().unwrap();
    let channel = store.get_channel("acme", "stable").await.unwrap().unwrap();
    (release.state, channel.version.unwrap())
}

/// A yank marks the release and sends its channel back, with one entry; yanking a
/// release that does not exist is `Absent` and moves no channel.
pub async fn an_audited_yank_sends_the_channel_back_with_one_entry<S: Store>(store: Arc<S>) {
    let yank = yank_setup(&*store).await;
    let e = event("release.yanked", "acme@1.1.0");
    assert_eq!(apply(&*store, &yank, &e).await.unwrap(), Applied::Done);
    let expected = (ReleaseState::Yanked, "1.0.0".to_string());
    assert_eq!(release_and_channel(&*store, "1.1.0").await, expected);
    let missing = AuditedChange::SetReleaseState {
        app: "acme".into(),
        version: "9.9.9".into(),
        state: ReleaseState::Yanked,
        channel_moves: vec![("stable".into(), "1.1.0".into())],
        now: NOW + 2,
    };
    let absent = apply(&*store, &missing, &event("release.yanked", "acme@9.9.9")).await;
    assert_eq!(absent.unwrap(), Applied::Absent);
    assert_eq!(release_and_channel(&*store, "1.1.0").await, expected);
    assert_log(&*store, &[&e]).await;
}

/// A yank whose entry could not be written leaves the release active and its channel
/// on it.
pub async fn a_failed_entry_keeps_the_release_and_its_channel<S: Store, F: AuditFault>(
    store: Arc<S>,
    fault: F,
) {
    let yank = yank_setup(&*store).await;
    apply_with_broken_log(&*store, &fault, &yank).await;
    let unchanged = (ReleaseState::Active, "1.1.0".to_string());
    assert_eq!(release_and_channel(&*store, "1.1.0").await, unchanged);
}
