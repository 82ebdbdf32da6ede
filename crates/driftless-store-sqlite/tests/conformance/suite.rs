//! The backend-agnostic conformance suite for `driftless_store::Store`.
//!
//! Every check is a `pub async fn` over any `S: Store`, given a fresh, empty store.
//! A backend runs them all with `conformance_tests!(open)`, where `open()` is an async
//! fn returning `(store, guard)` and the guard keeps whatever backs the store (a temp
//! dir, a container) alive. Another backend's crate reuses this file with
//! `#[path = "../../driftless-store-sqlite/tests/conformance/suite.rs"] mod suite;`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use driftless_store::{
    AuditEvent, CheckinReport, Install, License, Release, Store, StoreError, StoredAssignment,
};
use sha2::{Digest, Sha256};

/// Generates one `#[tokio::test]` per suite check, each on a store from `$open`.
#[macro_export]
macro_rules! conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@each $open;
            apps_are_created_and_listed_by_name,
            duplicates_conflict,
            channel_of_missing_app_is_missing,
            channel_points_at_release,
            channel_pointed_at_missing_release_is_missing,
            license_is_found_by_key_hash,
            license_with_missing_parent_is_missing,
            revoking_license_revokes_its_installs,
            revoking_install_revokes_only_it,
            install_with_missing_license_is_missing,
            release_conflicts_on_version_and_on_counter,
            release_of_missing_app_is_missing,
            max_release_counter_is_the_highest,
            release_counter_past_i64_is_not_wrapped,
            checkin_round_trip_keeps_assignment,
            checkin_of_unknown_install_is_missing,
            list_installs_shows_desired_and_last_report,
            audit_entries_chain_their_hashes,
            concurrent_audit_appends_form_one_chain,
            concurrent_checkins_all_land,
        );
    };
    (@each $open:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let (store, _guard) = $open().await;
                $crate::suite::$check(std::sync::Arc::new(store)).await;
            }
        )*
    };
}

const NOW: i64 = 1_700_000_000;

/// Creates app `app` with channel `stable`, customer `cust`, and license `lic-<app>`.
async fn seed_license<S: Store>(store: &S, app: &str) -> License {
    store.create_app(app, NOW).await.unwrap();
    store.create_channel(app, "stable", NOW).await.unwrap();
    if store.get_customer("cust").await.unwrap().is_none() {
        store.create_customer("cust", NOW).await.unwrap();
    }
    let license = License {
        id: format!("lic-{app}"),
        customer: "cust".into(),
        app: app.into(),
        channel: "stable".into(),
        key_hash: format!("{:0>64}", hex::encode(app)),
        revoked: false,
        created_at: NOW,
    };
    store.create_license(&license).await.unwrap();
    license
}

/// Registers install `id` under `license`.
async fn seed_install<S: Store>(store: &S, license: &License, id: &str) -> Install {
    let install = Install {
        id: id.into(),
        license_id: license.id.clone(),
        customer: license.customer.clone(),
        app: license.app.clone(),
        channel: license.channel.clone(),
        public_key: "ab".repeat(32),
        hostname: format!("host-{id}"),
        platform: "linux/amd64".into(),
        revoked: false,
        created_at: NOW,
    };
    store.create_install(&install).await.unwrap();
    install
}

fn release(app: &str, version: &str, counter: u64) -> Release {
    Release {
        app: app.into(),
        version: version.into(),
        release_counter: counter,
        digest: format!("sha256:{}", hex::encode(Sha256::digest(version.as_bytes()))),
        envelope: format!("{{\"version\":\"{version}\"}}"),
        created_at: NOW + i64::try_from(counter).unwrap_or(0),
    }
}

fn report(at: i64, version: Option<&str>) -> CheckinReport {
    CheckinReport {
        at,
        status: "running".into(),
        version: version.map(Into::into),
        release_counter: version.map(|_| 1),
        cli_version: "0.1.0".into(),
        // Past u32 and i32, so a narrowing column would show.
        free_disk_bytes: Some(5_000_000_000_000),
    }
}

fn assignment(sequence: u64) -> StoredAssignment {
    StoredAssignment {
        sequence,
        release_digest: "sha256:00".into(),
        expires: NOW + 3600,
        etag: format!("etag-{sequence}"),
        envelope: format!("{{\"sequence\":{sequence}}}"),
    }
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, mentions: &str) {
    match result {
        Err(StoreError::Conflict { what }) => {
            assert!(
                what.contains(mentions),
                "conflict `{what}` should mention `{mentions}`"
            )
        }
        other => panic!("expected a conflict about `{mentions}`, got {other:?}"),
    }
}

fn assert_missing<T: std::fmt::Debug>(result: Result<T, StoreError>, mentions: &str) {
    match result {
        Err(StoreError::Missing { what }) => {
            assert!(
                what.contains(mentions),
                "missing `{what}` should mention `{mentions}`"
            )
        }
        other => panic!("expected missing `{mentions}`, got {other:?}"),
    }
}

/// Apps come back from get and list, listed by name.
pub async fn apps_are_created_and_listed_by_name<S: Store>(store: Arc<S>) {
    assert!(store.list_apps().await.unwrap().is_empty());
    store.create_app("zeta", NOW).await.unwrap();
    let acme = store.create_app("acme", NOW + 1).await.unwrap();
    assert_eq!(acme.created_at, NOW + 1);
    let names: Vec<_> = store
        .list_apps()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["acme", "zeta"]);
    assert_eq!(store.get_app("acme").await.unwrap(), Some(acme));
    assert_eq!(store.get_app("nope").await.unwrap(), None);
}

/// Every unique key refuses a second row with `Conflict` naming it.
pub async fn duplicates_conflict<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    assert_conflict(store.create_app("acme", NOW).await, "acme");
    assert_conflict(
        store.create_channel("acme", "stable", NOW).await,
        "acme/stable",
    );
    assert_conflict(store.create_customer("cust", NOW).await, "cust");
    assert_conflict(store.create_license(&license).await, "lic-acme");
    let same_key = License {
        id: "lic-other".into(),
        ..license.clone()
    };
    assert_conflict(store.create_license(&same_key).await, "license");
    let install = seed_install(&*store, &license, "i-1").await;
    assert_conflict(store.create_install(&install).await, "i-1");
    // The failed inserts changed nothing.
    assert_eq!(store.list_apps().await.unwrap().len(), 1);
    assert_eq!(store.list_licenses().await.unwrap(), [license]);
}

/// A channel of an app that does not exist is `Missing`.
pub async fn channel_of_missing_app_is_missing<S: Store>(store: Arc<S>) {
    assert_missing(store.create_channel("ghost", "stable", NOW).await, "ghost");
    assert!(store.list_channels("ghost").await.unwrap().is_empty());
}

/// A channel starts empty and then points at the release it was set to.
pub async fn channel_points_at_release<S: Store>(store: Arc<S>) {
    store.create_app("acme", NOW).await.unwrap();
    store.create_channel("acme", "stable", NOW).await.unwrap();
    let beta = store.create_channel("acme", "beta", NOW).await.unwrap();
    assert_eq!(beta.version, None);
    store
        .insert_release(&release("acme", "1.0.0", 1))
        .await
        .unwrap();
    store
        .set_channel_release("acme", "beta", "1.0.0", NOW + 5)
        .await
        .unwrap();
    let beta = store.get_channel("acme", "beta").await.unwrap().unwrap();
    assert_eq!(beta.version.as_deref(), Some("1.0.0"));
    assert_eq!(beta.updated_at, NOW + 5);
    let channels = store.list_channels("acme").await.unwrap();
    let names: Vec<_> = channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["beta", "stable"]);
    assert_eq!(channels[1].version, None);
    assert_eq!(store.get_channel("acme", "nope").await.unwrap(), None);
}

/// Pointing at a missing release or channel is `Missing` and changes nothing.
pub async fn channel_pointed_at_missing_release_is_missing<S: Store>(store: Arc<S>) {
    store.create_app("acme", NOW).await.unwrap();
    store.create_channel("acme", "stable", NOW).await.unwrap();
    store
        .insert_release(&release("acme", "1.0.0", 1))
        .await
        .unwrap();
    store
        .set_channel_release("acme", "stable", "1.0.0", NOW)
        .await
        .unwrap();
    let result = store
        .set_channel_release("acme", "stable", "9.9.9", NOW + 1)
        .await;
    assert_missing(result, "acme@9.9.9");
    let result = store
        .set_channel_release("acme", "nightly", "1.0.0", NOW + 1)
        .await;
    assert_missing(result, "acme/nightly");
    let stable = store.get_channel("acme", "stable").await.unwrap().unwrap();
    assert_eq!(
        (stable.version.as_deref(), stable.updated_at),
        (Some("1.0.0"), NOW)
    );
}

/// Licenses are found by key hash and listed newest first.
pub async fn license_is_found_by_key_hash<S: Store>(store: Arc<S>) {
    let first = seed_license(&*store, "acme").await;
    store.create_channel("acme", "beta", NOW).await.unwrap();
    let second = License {
        id: "lic-2".into(),
        channel: "beta".into(),
        key_hash: "f".repeat(64),
        created_at: NOW + 10,
        ..first.clone()
    };
    store.create_license(&second).await.unwrap();
    assert_eq!(
        store.license_by_key_hash(&first.key_hash).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.license_by_key_hash(&second.key_hash).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        store.license_by_key_hash(&"0".repeat(64)).await.unwrap(),
        None
    );
    assert_eq!(
        store.list_licenses().await.unwrap(),
        [second, first],
        "newest first"
    );
}

/// A license needs its customer, app and channel.
pub async fn license_with_missing_parent_is_missing<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    let fresh = |id: &str| License {
        id: id.into(),
        key_hash: id.repeat(32),
        ..license.clone()
    };
    let no_customer = License {
        customer: "nobody".into(),
        ..fresh("a1")
    };
    assert_missing(store.create_license(&no_customer).await, "nobody");
    let no_app = License {
        app: "ghost".into(),
        ..fresh("a2")
    };
    assert_missing(store.create_license(&no_app).await, "ghost");
    let no_channel = License {
        channel: "nightly".into(),
        ..fresh("a3")
    };
    assert_missing(store.create_license(&no_channel).await, "acme/nightly");
    assert_eq!(store.list_licenses().await.unwrap().len(), 1);
}

/// Revoking a license revokes its installs and no others.
pub async fn revoking_license_revokes_its_installs<S: Store>(store: Arc<S>) {
    let acme = seed_license(&*store, "acme").await;
    let other = seed_license(&*store, "other").await;
    seed_install(&*store, &acme, "a-1").await;
    seed_install(&*store, &acme, "a-2").await;
    seed_install(&*store, &other, "o-1").await;
    let view = store.checkin_view("a-1").await.unwrap().unwrap();
    assert!(!view.license_revoked && !view.install.revoked);

    assert!(store.revoke_license(&acme.id, NOW + 1).await.unwrap());
    for id in ["a-1", "a-2"] {
        let view = store.checkin_view(id).await.unwrap().unwrap();
        assert!(view.license_revoked, "{id}: license should read as revoked");
        assert!(
            view.install.revoked,
            "{id}: install should be revoked with its license"
        );
        assert!(store.get_install(id).await.unwrap().unwrap().revoked);
    }
    let untouched = store.checkin_view("o-1").await.unwrap().unwrap();
    assert!(!untouched.license_revoked && !untouched.install.revoked);
    let license = store
        .license_by_key_hash(&acme.key_hash)
        .await
        .unwrap()
        .unwrap();
    assert!(license.revoked);
    assert!(!store.revoke_license("no-such-license", NOW).await.unwrap());
}

/// Revoking an install leaves its siblings and license alone.
pub async fn revoking_install_revokes_only_it<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    let kept = seed_install(&*store, &license, "i-2").await;
    assert!(store.revoke_install("i-1", NOW + 1).await.unwrap());
    assert!(store.get_install("i-1").await.unwrap().unwrap().revoked);
    assert_eq!(store.get_install("i-2").await.unwrap(), Some(kept));
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert!(view.install.revoked && !view.license_revoked);
    assert!(!store.revoke_install("no-such-install", NOW).await.unwrap());
    assert_eq!(store.get_install("no-such-install").await.unwrap(), None);
}

/// An install needs its license and channel.
pub async fn install_with_missing_license_is_missing<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    let install = seed_install(&*store, &license, "i-1").await;
    let orphan = Install {
        id: "i-2".into(),
        license_id: "lic-ghost".into(),
        ..install.clone()
    };
    assert_missing(store.create_install(&orphan).await, "lic-ghost");
    let lost = Install {
        id: "i-3".into(),
        channel: "nightly".into(),
        ..install
    };
    assert_missing(store.create_install(&lost).await, "acme/nightly");
    assert_eq!(store.list_installs(None).await.unwrap().len(), 1);
}

/// Versions and counters are each unique per app.
pub async fn release_conflicts_on_version_and_on_counter<S: Store>(store: Arc<S>) {
    store.create_app("acme", NOW).await.unwrap();
    store.create_app("other", NOW).await.unwrap();
    let first = release("acme", "1.0.0", 3);
    store.insert_release(&first).await.unwrap();
    assert_conflict(
        store.insert_release(&release("acme", "1.0.0", 4)).await,
        "acme@1.0.0",
    );
    let result = store.insert_release(&release("acme", "1.0.1", 3)).await;
    assert_conflict(result, "release counter 3 of acme");
    // Versions and counters are unique per app, not globally.
    store
        .insert_release(&release("other", "1.0.0", 3))
        .await
        .unwrap();
    assert_eq!(store.list_releases("acme").await.unwrap(), [first]);
}

/// A release of an app that does not exist is `Missing`.
pub async fn release_of_missing_app_is_missing<S: Store>(store: Arc<S>) {
    assert_missing(
        store.insert_release(&release("ghost", "1.0.0", 1)).await,
        "ghost",
    );
}

/// The highest counter per app, 0 when none; releases highest first.
pub async fn max_release_counter_is_the_highest<S: Store>(store: Arc<S>) {
    store.create_app("acme", NOW).await.unwrap();
    store.create_app("other", NOW).await.unwrap();
    assert_eq!(store.max_release_counter("acme").await.unwrap(), 0);
    for (version, counter) in [("1.0.0", 1), ("1.2.0", 7), ("1.1.0", 4)] {
        store
            .insert_release(&release("acme", version, counter))
            .await
            .unwrap();
    }
    assert_eq!(store.max_release_counter("acme").await.unwrap(), 7);
    assert_eq!(store.max_release_counter("other").await.unwrap(), 0);
    let counters: Vec<_> = store
        .list_releases("acme")
        .await
        .unwrap()
        .iter()
        .map(|r| r.release_counter)
        .collect();
    assert_eq!(counters, [7, 4, 1], "highest counter first");
    let got = store.get_release("acme", "1.1.0").await.unwrap();
    assert_eq!(got, Some(release("acme", "1.1.0", 4)));
    assert_eq!(store.get_release("acme", "9.9.9").await.unwrap(), None);
}

/// A counter a signed column cannot hold is either refused or kept exactly, never wrapped.
pub async fn release_counter_past_i64_is_not_wrapped<S: Store>(store: Arc<S>) {
    store.create_app("acme", NOW).await.unwrap();
    let huge = release("acme", "1.0.0", u64::MAX);
    match store.insert_release(&huge).await {
        Ok(()) => {
            assert_eq!(store.max_release_counter("acme").await.unwrap(), u64::MAX);
            assert_eq!(
                store.get_release("acme", "1.0.0").await.unwrap(),
                Some(huge)
            );
        }
        Err(_) => {
            assert_eq!(store.get_release("acme", "1.0.0").await.unwrap(), None);
            assert_eq!(store.max_release_counter("acme").await.unwrap(), 0);
        }
    }
}

/// A check-in's report and assignment come back from the next view.
pub async fn checkin_round_trip_keeps_assignment<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    let install = seed_install(&*store, &license, "i-1").await;
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.install, install);
    assert_eq!((view.channel_release, view.assignment), (None, None));

    let rel = release("acme", "1.0.0", 1);
    store.insert_release(&rel).await.unwrap();
    store
        .set_channel_release("acme", "stable", "1.0.0", NOW)
        .await
        .unwrap();
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(
        view.channel_release,
        Some(("1.0.0".into(), 1, rel.digest.clone()))
    );

    let given = StoredAssignment {
        release_digest: rel.digest.clone(),
        ..assignment(1)
    };
    store
        .record_checkin("i-1", &report(NOW + 60, None), Some(&given))
        .await
        .unwrap();
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.assignment.as_ref(), Some(&given));

    // A check-in without a new assignment keeps the last one and updates the report.
    let later = report(NOW + 120, Some("1.0.0"));
    store.record_checkin("i-1", &later, None).await.unwrap();
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.assignment.as_ref(), Some(&given));
    let summary = store.list_installs(Some("acme")).await.unwrap();
    assert_eq!(summary[0].last_report.as_ref(), Some(&later));

    let next = assignment(2);
    store
        .record_checkin("i-1", &report(NOW + 180, None), Some(&next))
        .await
        .unwrap();
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.assignment, Some(next));
    assert_eq!(store.checkin_view("no-such-install").await.unwrap(), None);
}

/// Recording a check-in of an unknown install is `Missing`.
pub async fn checkin_of_unknown_install_is_missing<S: Store>(store: Arc<S>) {
    let result = store
        .record_checkin("ghost", &report(NOW, None), Some(&assignment(1)))
        .await;
    assert_missing(result, "ghost");
}

/// The fleet view shows the channel's version and the last report.
pub async fn list_installs_shows_desired_and_last_report<S: Store>(store: Arc<S>) {
    let acme = seed_license(&*store, "acme").await;
    let other = seed_license(&*store, "other").await;
    let a1 = seed_install(&*store, &acme, "a-1").await;
    let a2 = seed_install(&*store, &acme, "a-2").await;
    let o1 = seed_install(&*store, &other, "o-1").await;
    store
        .insert_release(&release("acme", "2.0.0", 2))
        .await
        .unwrap();
    store
        .set_channel_release("acme", "stable", "2.0.0", NOW)
        .await
        .unwrap();
    let reported = report(NOW + 30, Some("1.0.0"));
    store.record_checkin("a-2", &reported, None).await.unwrap();

    let fleet = store.list_installs(Some("acme")).await.unwrap();
    let ids: Vec<_> = fleet.iter().map(|s| s.install.id.as_str()).collect();
    assert_eq!(ids, ["a-1", "a-2"]);
    assert_eq!(fleet[0].install, a1);
    assert_eq!(fleet[0].desired_version.as_deref(), Some("2.0.0"));
    assert_eq!(fleet[0].last_report, None, "never checked in");
    assert_eq!(fleet[1].install, a2);
    assert_eq!(fleet[1].last_report.as_ref(), Some(&reported));

    let everything = store.list_installs(None).await.unwrap();
    assert_eq!(everything.len(), 3);
    let o = everything.iter().find(|s| s.install.id == "o-1").unwrap();
    assert_eq!((&o.install, o.desired_version.as_deref()), (&o1, None));
    assert!(store.list_installs(Some("ghost")).await.unwrap().is_empty());
}

fn audit_event(n: i64) -> AuditEvent {
    AuditEvent {
        at: NOW + n,
        actor: "operator".into(),
        action: "release.publish".into(),
        subject: format!("acme@1.0.{n}"),
        // Quotes and a newline, so the canonical JSON's escaping is exercised.
        detail: format!("{{\"note\":\"line \\\"{n}\\\"\\nnext\"}}"),
    }
}

/// The documented chain: hex(sha256(prev_hash || "\n" || canonical JSON of the event)),
/// the canonical JSON being compact with keys sorted.
fn expected_hash(prev_hash: &str, event: &AuditEvent) -> String {
    let text = |s: &str| serde_json::to_string(s).unwrap();
    let canonical = format!(
        "{{\"action\":{},\"actor\":{},\"at\":{},\"detail\":{},\"subject\":{}}}",
        text(&event.action),
        text(&event.actor),
        event.at,
        text(&event.detail),
        text(&event.subject),
    );
    hex::encode(Sha256::digest(
        format!("{prev_hash}\n{canonical}").as_bytes(),
    ))
}

/// Checks the whole log (oldest first after reversing) links from the genesis hash.
fn assert_chain(newest_first: &[driftless_store::AuditEntry]) {
    let mut prev = "0".repeat(64);
    for (i, entry) in newest_first.iter().rev().enumerate() {
        assert_eq!(entry.seq, i as u64 + 1, "sequence has no gaps");
        assert_eq!(
            entry.hash,
            expected_hash(&prev, &entry.event),
            "entry {} breaks the chain",
            entry.seq
        );
        prev = entry.hash.clone();
    }
}

/// Audit entries come back newest first, each hash chained to the last.
pub async fn audit_entries_chain_their_hashes<S: Store>(store: Arc<S>) {
    assert!(store.list_audit(10).await.unwrap().is_empty());
    let events: Vec<_> = (1..=3).map(audit_event).collect();
    for event in &events {
        store.append_audit(event).await.unwrap();
    }
    let log = store.list_audit(10).await.unwrap();
    let stored: Vec<_> = log.iter().map(|e| e.event.clone()).collect();
    assert_eq!(
        stored,
        [events[2].clone(), events[1].clone(), events[0].clone()]
    );
    assert_chain(&log);
    let newest_two = store.list_audit(2).await.unwrap();
    assert_eq!(newest_two, log[..2]);
}

/// Concurrent appends still form one unbroken chain.
pub async fn concurrent_audit_appends_form_one_chain<S: Store>(store: Arc<S>) {
    let tasks: Vec<_> = (1..=20)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.append_audit(&audit_event(n)).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let log = store.list_audit(100).await.unwrap();
    assert_eq!(log.len(), 20);
    assert_chain(&log);
}

/// Fifty concurrent check-ins of different installs all land.
pub async fn concurrent_checkins_all_land<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    for n in 0..50 {
        seed_install(&*store, &license, &format!("i-{n}")).await;
    }
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let id = format!("i-{n}");
                let given = assignment(n);
                store
                    .record_checkin(&id, &report(NOW + n as i64, None), Some(&given))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for n in 0..50 {
        let view = store
            .checkin_view(&format!("i-{n}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(view.assignment, Some(assignment(n)), "install i-{n}");
    }
    let fleet = store.list_installs(Some("acme")).await.unwrap();
    assert!(
        fleet.iter().all(|s| s.last_report.is_some()),
        "every check-in landed"
    );
}
