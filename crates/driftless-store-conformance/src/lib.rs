//! The backend-agnostic conformance suite for `driftless_store::Store`.
//!
//! Every check is a `pub async fn` over any `S: Store`, given a fresh, empty store.
//! A backend runs them all from its own tests with
//! `driftless_store_conformance::conformance_tests!(open)`, where `open()` is an async
//! fn returning `(store, guard)` and the guard keeps whatever backs the store (a temp
//! dir, a database) alive. Every backend runs the same checks.

#![allow(clippy::unwrap_used)]

mod audit_checkpoints;
pub use audited_changes::*;
mod audited_changes;
pub use audit_checkpoints::*;
mod replicas;
pub use replicas::*;
mod support_bundles;
pub use support_bundles::*;
mod webhooks;
pub use webhooks::*;
mod principals;
pub use principals::*;
mod licenses;
pub use licenses::*;
mod status_history;
pub use status_history::*;
mod receipt_chains;
pub use receipt_chains::*;

use std::sync::Arc;

use driftless_store::{
    AuditEvent, Change, ChangeKind, CheckinReport, Heartbeat, ImportedInstall, Install, License,
    Release, ReleaseRef, ReleaseState, Rollout, RolloutOutcomes, RolloutState, RolloutUpdate,
    Store, StoreError, StoredAssignment, StoredSession,
};
use sha2::{Digest, Sha256};

mod pages;
pub use pages::*;

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
            channel_policy_is_replaced_and_kept_per_channel,
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
            release_state_round_trips,
            channel_history_is_newest_first_each_once,
            move_install_needs_a_channel_of_its_app,
            checkin_report_keeps_target_version_and_reason,
            checkin_report_keeps_policy_and_waiting_release,
            a_report_at_the_length_limits_is_stored_and_counted,
            one_active_rollout_per_channel,
            rollout_with_missing_parent_is_missing,
            checkin_view_includes_the_active_rollout,
            running_rollouts_exclude_paused_and_finished,
            update_rollout_round_trips,
            rollout_outcomes_count_the_channels_installs,
            an_abort_racing_a_wave_tick_leaves_the_channel_on_the_previous_release,
            a_rollout_update_that_cannot_switch_its_channel_saves_nothing,
            concurrent_rollout_updates_from_one_read_save_exactly_one,
            checkin_view_carries_the_last_report_and_the_newest_request,
            a_signed_request_is_accepted_only_when_newer,
            concurrent_requests_signed_at_the_same_time_accept_one,
            a_signed_request_of_an_unknown_install_is_missing,
            uninstalling_an_install_revokes_it_and_keeps_the_first_time,
            // Lists that scale.
            install_pages_visit_every_install_once_in_order,
            install_pages_carry_desired_version_and_report,
            fleet_summary_counts_versions_statuses_and_reasons,
            stale_installs_are_the_ones_seen_once_and_not_since,
            audit_pages_walk_the_log_newest_first,
            imported_installs_are_what_registration_and_a_checkin_leave,
            an_import_that_cannot_be_stored_whole_stores_nothing,
            a_new_session_replaces_the_old_one,
            a_session_of_an_unknown_install_is_missing,
            heartbeats_move_report_and_request_times_forward_only,
            the_change_feed_names_what_a_check_in_depends_on,
            the_check_ins_own_writes_leave_the_change_feed_alone,
        );
        $crate::replica_conformance_tests!($open);
        $crate::audit_checkpoint_conformance_tests!($open);
        $crate::support_bundle_conformance_tests!($open);
        $crate::webhook_conformance_tests!($open);
        $crate::principal_conformance_tests!($open);
        $crate::license_conformance_tests!($open);
        $crate::status_history_conformance_tests!($open);
        $crate::receipt_chain_conformance_tests!($open);
        $crate::audited_change_conformance_tests!($open);
    };
    (@each $open:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let (store, _guard) = $open().await;
                $crate::$check(std::sync::Arc::new(store)).await;
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
        uninstalled_at: None,
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
        state: ReleaseState::Active,
    }
}

/// What a check-in sees of `release`.
fn release_ref(release: &Release) -> ReleaseRef {
    ReleaseRef {
        version: release.version.clone(),
        release_counter: release.release_counter,
        digest: release.digest.clone(),
        state: release.state,
    }
}

/// Inserts `versions` of `app` with counters 1, 2, ...
async fn seed_releases<S: Store>(store: &S, app: &str, versions: &[&str]) -> Vec<Release> {
    let mut releases = Vec::new();
    for (n, version) in (1..).zip(versions) {
        let rel = release(app, version, n);
        store.insert_release(&rel).await.unwrap();
        releases.push(rel);
    }
    releases
}

/// A rollout of `app@version` to `channel` in three waves, created at `NOW + at`.
fn rollout(app: &str, channel: &str, version: &str, state: RolloutState, at: i64) -> Rollout {
    Rollout {
        id: 0,
        app: app.into(),
        channel: channel.into(),
        version: version.into(),
        previous_version: None,
        waves: vec![1, 10, 100],
        wave_index: 0,
        wave_started_at: NOW + at,
        interval_s: Some(3600),
        state,
        min_failures: 3,
        max_failure_pct: 20,
        reason: None,
        created_at: NOW + at,
        updated_at: NOW + at,
        revision: 0,
    }
}

/// Saves `rollout` as read at its revision, with no channel switch and no audit entry.
async fn save<S: Store>(store: &S, rollout: &Rollout) -> Result<Rollout, StoreError> {
    let update = RolloutUpdate {
        rollout: rollout.clone(),
        channel_release: None,
        audit: None,
    };
    store.update_rollout(&update).await
}

/// Creates `rollout` and returns it with the id the store gave it.
async fn seed_rollout<S: Store>(store: &S, rollout: Rollout) -> Rollout {
    let id = store.create_rollout(&rollout).await.unwrap();
    Rollout { id, ..rollout }
}

pub(crate) fn report(at: i64, version: Option<&str>) -> CheckinReport {
    CheckinReport {
        at,
        status: "running".into(),
        version: version.map(Into::into),
        release_counter: version.map(|_| 1),
        cli_version: "0.1.0".into(),
        // Past u32 and i32, so a narrowing column would show.
        free_disk_bytes: Some(5_000_000_000_000),
        target_version: None,
        reason: None,
        policy: None,
        waiting: None,
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

/// A channel's policy is absent until set, replaced by the next set, kept per
/// channel, and refused (`Missing`) for a channel that does not exist.
pub async fn channel_policy_is_replaced_and_kept_per_channel<S: Store>(store: Arc<S>) {
    store.create_app("acme", NOW).await.unwrap();
    store.create_channel("acme", "stable", NOW).await.unwrap();
    store.create_channel("acme", "beta", NOW).await.unwrap();
    assert_eq!(store.channel_policy("acme", "stable").await.unwrap(), None);
    store
        .set_channel_policy("acme", "stable", r#"{"require_sbom":true}"#, NOW)
        .await
        .unwrap();
    store
        .set_channel_policy("acme", "stable", r#"{"max_severity":"high"}"#, NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        store
            .channel_policy("acme", "stable")
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"max_severity":"high"}"#)
    );
    assert_eq!(store.channel_policy("acme", "beta").await.unwrap(), None);
    assert_missing(
        store.set_channel_policy("acme", "ghost", "{}", NOW).await,
        "acme/ghost",
    );
    assert_eq!(store.channel_policy("acme", "ghost").await.unwrap(), None);
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
    assert_eq!(view.channel_release, Some(release_ref(&rel)));
    assert_eq!(view.rollout, None);

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
        request_id: String::new(),
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

/// A release's state is stored, changed, and seen by get, list and the check-in.
pub async fn release_state_round_trips<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    let active = release("acme", "1.0.0", 1);
    store.insert_release(&active).await.unwrap();
    let deprecated = Release {
        state: ReleaseState::Deprecated,
        ..release("acme", "1.1.0", 2)
    };
    store.insert_release(&deprecated).await.unwrap();
    assert_eq!(
        store.get_release("acme", "1.1.0").await.unwrap(),
        Some(deprecated.clone()),
        "the state given at insert is kept"
    );

    let changed = store
        .set_release_state("acme", "1.0.0", ReleaseState::Yanked)
        .await
        .unwrap();
    assert!(changed);
    let yanked = Release {
        state: ReleaseState::Yanked,
        ..active
    };
    assert_eq!(
        store.list_releases("acme").await.unwrap(),
        [deprecated, yanked.clone()]
    );
    store
        .set_channel_release("acme", "stable", "1.0.0", NOW)
        .await
        .unwrap();
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.channel_release, Some(release_ref(&yanked)));

    let missing = store
        .set_release_state("acme", "9.9.9", ReleaseState::Yanked)
        .await
        .unwrap();
    assert!(!missing, "no such release");
}

/// A channel's history lists each version it pointed at once, most recent first.
pub async fn channel_history_is_newest_first_each_once<S: Store>(store: Arc<S>) {
    store.create_app("acme", NOW).await.unwrap();
    store.create_channel("acme", "stable", NOW).await.unwrap();
    store.create_channel("acme", "beta", NOW).await.unwrap();
    seed_releases(&*store, "acme", &["1.0.0", "2.0.0", "3.0.0"]).await;
    assert!(store
        .channel_history("acme", "stable")
        .await
        .unwrap()
        .is_empty());
    // All in the same second, so the order cannot come from the clock alone.
    for version in ["1.0.0", "2.0.0", "1.0.0", "3.0.0", "3.0.0"] {
        store
            .set_channel_release("acme", "stable", version, NOW)
            .await
            .unwrap();
    }
    store
        .set_channel_release("acme", "beta", "2.0.0", NOW)
        .await
        .unwrap();
    // A refused change leaves no trace.
    let refused = store
        .set_channel_release("acme", "stable", "9.9.9", NOW)
        .await;
    assert_missing(refused, "acme@9.9.9");

    assert_eq!(
        store.channel_history("acme", "stable").await.unwrap(),
        ["3.0.0", "1.0.0", "2.0.0"]
    );
    assert_eq!(
        store.channel_history("acme", "beta").await.unwrap(),
        ["2.0.0"]
    );
    assert!(store
        .channel_history("acme", "nightly")
        .await
        .unwrap()
        .is_empty());
}

/// An install moves only to an existing channel of its own app.
pub async fn move_install_needs_a_channel_of_its_app<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_license(&*store, "other").await;
    store.create_channel("acme", "beta", NOW).await.unwrap();
    store.create_channel("other", "edge", NOW).await.unwrap();
    let rel = release("acme", "2.0.0-beta.1", 1);
    store.insert_release(&rel).await.unwrap();
    store
        .set_channel_release("acme", "beta", &rel.version, NOW)
        .await
        .unwrap();
    let install = seed_install(&*store, &license, "i-1").await;

    store.move_install("i-1", "beta").await.unwrap();
    let moved = store.get_install("i-1").await.unwrap().unwrap();
    assert_eq!(
        moved,
        Install {
            channel: "beta".into(),
            ..install
        }
    );
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.channel_release, Some(release_ref(&rel)));

    assert_missing(store.move_install("i-1", "nightly").await, "acme/nightly");
    // `edge` exists, but only for another app.
    assert_missing(store.move_install("i-1", "edge").await, "acme/edge");
    assert_missing(store.move_install("ghost", "beta").await, "ghost");
    assert_eq!(store.get_install("i-1").await.unwrap(), Some(moved));
}

/// The policy and the waiting release of a report come back, and a later report
/// without them clears them.
pub async fn checkin_report_keeps_policy_and_waiting_release<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    let waiting = CheckinReport {
        status: "converged".into(),
        policy: Some("window Sat 02:00-04:00".into()),
        waiting: Some("{\"version\":\"2.0.0\",\"urgent\":true}".into()),
        ..report(NOW + 10, Some("1.0.0"))
    };
    store.record_checkin("i-1", &waiting, None).await.unwrap();
    let fleet = store.list_installs(Some("acme")).await.unwrap();
    assert_eq!(fleet[0].last_report.as_ref(), Some(&waiting));

    let applied = CheckinReport {
        policy: Some("approve".into()),
        ..report(NOW + 20, Some("2.0.0"))
    };
    store
        .record_checkin("i-1", &applied, Some(&assignment(1)))
        .await
        .unwrap();
    let fleet = store.list_installs(None).await.unwrap();
    assert_eq!(fleet[0].last_report.as_ref(), Some(&applied));
}

/// The target version and reason of a report come back, and a later report replaces them.
pub async fn checkin_report_keeps_target_version_and_reason<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    let failing = CheckinReport {
        status: "failed:health".into(),
        target_version: Some("2.0.0".into()),
        reason: Some("{\"service\":\"web\",\"probe\":\"timeout\"}".into()),
        ..report(NOW + 10, Some("1.0.0"))
    };
    store.record_checkin("i-1", &failing, None).await.unwrap();
    let fleet = store.list_installs(Some("acme")).await.unwrap();
    assert_eq!(fleet[0].last_report.as_ref(), Some(&failing));

    let with_assignment = CheckinReport {
        target_version: Some("2.0.1".into()),
        ..failing
    };
    store
        .record_checkin("i-1", &with_assignment, Some(&assignment(1)))
        .await
        .unwrap();
    let fleet = store.list_installs(None).await.unwrap();
    assert_eq!(fleet[0].last_report.as_ref(), Some(&with_assignment));

    let converged = report(NOW + 20, Some("2.0.1"));
    store.record_checkin("i-1", &converged, None).await.unwrap();
    let fleet = store.list_installs(Some("acme")).await.unwrap();
    assert_eq!(
        fleet[0].last_report.as_ref(),
        Some(&converged),
        "target version and reason are cleared"
    );
}

/// A report whose texts are each as long as the control plane accepts is stored whole,
/// listed and counted in the fleet summary (PostgreSQL's summary index holds the
/// version and the status).
pub async fn a_report_at_the_length_limits_is_stored_and_counted<S: Store>(store: Arc<S>) {
    use driftless_store::report_limits::*;
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    let version = "9".repeat(MAX_VERSION_BYTES);
    let status = format!("failed:{}", "e".repeat(MAX_STATUS_BYTES - "failed:".len()));
    let reason = serde_json::json!({
        "code": "health_failed",
        "detail": "d".repeat(MAX_REASON_DETAIL_BYTES),
    });
    let longest = CheckinReport {
        status: status.clone(),
        target_version: Some("8".repeat(MAX_VERSION_BYTES)),
        cli_version: "7".repeat(MAX_CLI_VERSION_BYTES),
        reason: Some(reason.to_string()),
        ..report(NOW + 10, Some(&version))
    };
    store.record_checkin("i-1", &longest, None).await.unwrap();
    let fleet = store.list_installs(Some("acme")).await.unwrap();
    assert_eq!(fleet[0].last_report.as_ref(), Some(&longest));
    let summary = store.fleet_summary(Some("acme")).await.unwrap();
    let counted: Vec<_> = summary
        .counts
        .iter()
        .map(|c| {
            (
                c.version.as_deref(),
                c.status.as_str(),
                c.reason.as_deref(),
                c.installs,
            )
        })
        .collect();
    assert_eq!(
        counted,
        [(
            Some(version.as_str()),
            status.as_str(),
            Some("health_failed"),
            1
        )]
    );
}

/// A channel has at most one running, paused or halted rollout; a completed or aborted
/// one does not count.
pub async fn one_active_rollout_per_channel<S: Store>(store: Arc<S>) {
    seed_license(&*store, "acme").await;
    store.create_channel("acme", "beta", NOW).await.unwrap();
    seed_releases(&*store, "acme", &["1.0.0", "2.0.0", "3.0.0"]).await;
    let first = seed_rollout(
        &*store,
        rollout("acme", "stable", "2.0.0", RolloutState::Running, 0),
    )
    .await;
    let second = rollout("acme", "stable", "3.0.0", RolloutState::Running, 1);
    let mut current = first.clone();
    for state in [
        RolloutState::Running,
        RolloutState::Paused,
        RolloutState::Halted,
    ] {
        current = save(&*store, &Rollout { state, ..current }).await.unwrap();
        assert_conflict(store.create_rollout(&second).await, "acme/stable");
    }
    // Another channel's rollout is independent.
    let beta = rollout("acme", "beta", "3.0.0", RolloutState::Running, 1);
    let beta_id = store.create_rollout(&beta).await.unwrap();
    assert_ne!(beta_id, first.id);

    let completed = Rollout {
        state: RolloutState::Completed,
        ..current
    };
    let completed = save(&*store, &completed).await.unwrap();
    let after_completed = seed_rollout(&*store, second.clone()).await;
    assert_ne!(after_completed.id, first.id);
    // Reviving a finished rollout while another is active is refused too.
    let revived = Rollout {
        state: RolloutState::Running,
        ..completed
    };
    assert_conflict(save(&*store, &revived).await, "acme/stable");

    let aborted = Rollout {
        state: RolloutState::Aborted,
        reason: Some("operator".into()),
        ..after_completed
    };
    save(&*store, &aborted).await.unwrap();
    let third = seed_rollout(
        &*store,
        rollout("acme", "stable", "3.0.0", RolloutState::Paused, 2),
    )
    .await;
    assert_eq!(
        store.active_rollout("acme", "stable").await.unwrap(),
        Some(third)
    );
    assert_eq!(store.list_rollouts("acme").await.unwrap().len(), 4);
}

/// A rollout needs its app, channel, release and previous release.
pub async fn rollout_with_missing_parent_is_missing<S: Store>(store: Arc<S>) {
    seed_license(&*store, "acme").await;
    seed_releases(&*store, "acme", &["1.0.0"]).await;
    let ok = rollout("acme", "stable", "1.0.0", RolloutState::Running, 0);
    let no_app = Rollout {
        app: "ghost".into(),
        ..ok.clone()
    };
    assert_missing(store.create_rollout(&no_app).await, "ghost");
    let no_channel = Rollout {
        channel: "nightly".into(),
        ..ok.clone()
    };
    assert_missing(store.create_rollout(&no_channel).await, "acme/nightly");
    let no_release = Rollout {
        version: "9.9.9".into(),
        ..ok.clone()
    };
    assert_missing(store.create_rollout(&no_release).await, "acme@9.9.9");
    let no_previous = Rollout {
        previous_version: Some("0.9.0".into()),
        ..ok
    };
    assert_missing(store.create_rollout(&no_previous).await, "acme@0.9.0");
    assert!(store.list_rollouts("acme").await.unwrap().is_empty());
    assert_eq!(store.active_rollout("acme", "stable").await.unwrap(), None);
}

/// The check-in sees its channel's active rollout with the release it rolls out, and
/// nothing once the rollout is finished.
pub async fn checkin_view_includes_the_active_rollout<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    store.create_channel("acme", "beta", NOW).await.unwrap();
    let releases = seed_releases(&*store, "acme", &["1.0.0", "2.0.0"]).await;
    store
        .set_channel_release("acme", "stable", "1.0.0", NOW)
        .await
        .unwrap();
    seed_install(&*store, &license, "i-1").await;
    seed_install(&*store, &license, "i-2").await;
    store.move_install("i-2", "beta").await.unwrap();
    store
        .set_release_state("acme", "2.0.0", ReleaseState::Deprecated)
        .await
        .unwrap();
    let running = seed_rollout(
        &*store,
        Rollout {
            previous_version: Some("1.0.0".into()),
            ..rollout("acme", "stable", "2.0.0", RolloutState::Running, 0)
        },
    )
    .await;

    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.channel_release, Some(release_ref(&releases[0])));
    let rolled_out = ReleaseRef {
        state: ReleaseState::Deprecated,
        ..release_ref(&releases[1])
    };
    assert_eq!(view.rollout, Some((running.clone(), rolled_out.clone())));
    let other_channel = store.checkin_view("i-2").await.unwrap().unwrap();
    assert_eq!(other_channel.rollout, None, "the rollout is on stable only");

    let halted = Rollout {
        state: RolloutState::Halted,
        reason: Some("4 of 10 failed".into()),
        updated_at: NOW + 5,
        ..running
    };
    let halted = save(&*store, &halted).await.unwrap();
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.rollout, Some((halted.clone(), rolled_out)));

    let completed = Rollout {
        state: RolloutState::Completed,
        ..halted
    };
    save(&*store, &completed).await.unwrap();
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.rollout, None, "a completed rollout is not active");
}

/// The ticker's list holds running rollouts of every app, and nothing else.
pub async fn running_rollouts_exclude_paused_and_finished<S: Store>(store: Arc<S>) {
    for app in ["acme", "other"] {
        seed_license(&*store, app).await;
        for channel in ["beta", "edge", "lts"] {
            store.create_channel(app, channel, NOW).await.unwrap();
        }
        seed_releases(&*store, app, &["1.0.0"]).await;
    }
    let mut running = Vec::new();
    let channels = ["stable", "beta", "edge", "lts"];
    for (at, app) in (0..).zip(["acme", "other"]) {
        let states = [
            RolloutState::Running,
            RolloutState::Paused,
            RolloutState::Halted,
            RolloutState::Completed,
        ];
        for (channel, state) in channels.iter().zip(states) {
            let created = seed_rollout(&*store, rollout(app, channel, "1.0.0", state, at)).await;
            if state == RolloutState::Running {
                running.push(created);
            }
        }
    }
    assert_eq!(store.running_rollouts().await.unwrap(), running);

    let paused = Rollout {
        state: RolloutState::Paused,
        ..running[0].clone()
    };
    save(&*store, &paused).await.unwrap();
    assert_eq!(store.running_rollouts().await.unwrap(), running[1..]);
}

/// An update saves state, wave, wave start, reason and update time, and nothing else.
pub async fn update_rollout_round_trips<S: Store>(store: Arc<S>) {
    seed_license(&*store, "acme").await;
    seed_license(&*store, "other").await;
    seed_releases(&*store, "acme", &["1.0.0", "2.0.0"]).await;
    seed_releases(&*store, "other", &["1.0.0"]).await;
    let older = seed_rollout(
        &*store,
        rollout("acme", "stable", "1.0.0", RolloutState::Completed, 0),
    )
    .await;
    let created = seed_rollout(
        &*store,
        Rollout {
            previous_version: Some("1.0.0".into()),
            interval_s: None,
            ..rollout("acme", "stable", "2.0.0", RolloutState::Running, 10)
        },
    )
    .await;
    seed_rollout(
        &*store,
        rollout("other", "stable", "1.0.0", RolloutState::Running, 20),
    )
    .await;
    assert_eq!(
        store.active_rollout("acme", "stable").await.unwrap(),
        Some(created.clone())
    );

    let advanced = Rollout {
        state: RolloutState::Halted,
        wave_index: 2,
        wave_started_at: NOW + 100,
        reason: Some("5 of 12 installs failed".into()),
        updated_at: NOW + 200,
        ..created.clone()
    };
    // Fields an update does not save: changing them here must not stick.
    let with_other_changes = Rollout {
        version: "1.0.0".into(),
        waves: vec![50, 100],
        min_failures: 0,
        created_at: 0,
        ..advanced.clone()
    };
    let advanced = Rollout {
        revision: created.revision + 1,
        ..advanced
    };
    let stored = save(&*store, &with_other_changes).await.unwrap();
    assert_eq!(
        stored, advanced,
        "the rollout as stored, at its next revision"
    );
    assert_eq!(
        store.active_rollout("acme", "stable").await.unwrap(),
        Some(advanced.clone())
    );
    assert_eq!(
        store.list_rollouts("acme").await.unwrap(),
        [advanced.clone(), older],
        "newest first, other apps left out"
    );

    let ghost = Rollout {
        id: advanced.id + 1000,
        ..advanced
    };
    assert_missing(save(&*store, &ghost).await, "rollout");
    assert!(store.list_rollouts("ghost").await.unwrap().is_empty());
}

/// Outcomes count the channel's unrevoked installs by what they last reported.
pub async fn rollout_outcomes_count_the_channels_installs<S: Store>(store: Arc<S>) {
    let acme = seed_license(&*store, "acme").await;
    let other = seed_license(&*store, "other").await;
    store.create_channel("acme", "beta", NOW).await.unwrap();
    let with = |status: &str, version: Option<&str>, target: Option<&str>| CheckinReport {
        status: status.into(),
        target_version: target.map(Into::into),
        ..report(NOW + 10, version)
    };
    let fleet = [
        // Tried and converged.
        ("conv", with("converged", Some("2.0.0"), None)),
        // Tried and failed, still running the old version.
        ("fail", with("failed:health", Some("1.0.0"), Some("2.0.0"))),
        // Tried, still applying.
        ("apply", with("applying", Some("1.0.0"), Some("2.0.0"))),
        // Runs 2.0.0 but drifted: tried, not converged.
        ("drift", with("drifted:web", Some("2.0.0"), None)),
        // Failed on another version: not about 2.0.0 at all.
        (
            "other-fail",
            with("failed:pull", Some("1.0.0"), Some("3.0.0")),
        ),
        // Content with the old version.
        ("old", with("converged", Some("1.0.0"), None)),
    ];
    for (id, reported) in &fleet {
        seed_install(&*store, &acme, id).await;
        store.record_checkin(id, reported, None).await.unwrap();
    }
    seed_install(&*store, &acme, "silent").await;
    // Not counted: revoked, on another channel, of another app.
    let converged = with("converged", Some("2.0.0"), None);
    for (id, license) in [("revoked", &acme), ("beta", &acme), ("o-1", &other)] {
        seed_install(&*store, license, id).await;
        store.record_checkin(id, &converged, None).await.unwrap();
    }
    store.revoke_install("revoked", NOW + 20).await.unwrap();
    store.move_install("beta", "beta").await.unwrap();

    assert_eq!(
        store
            .rollout_outcomes("acme", "stable", "2.0.0")
            .await
            .unwrap(),
        RolloutOutcomes {
            tried: 4,
            failed: 1,
            converged: 1,
        }
    );
    assert_eq!(
        store
            .rollout_outcomes("acme", "stable", "3.0.0")
            .await
            .unwrap(),
        RolloutOutcomes {
            tried: 1,
            failed: 1,
            converged: 0,
        }
    );
    assert_eq!(
        store
            .rollout_outcomes("acme", "nightly", "2.0.0")
            .await
            .unwrap(),
        RolloutOutcomes::default()
    );
}

/// `acme` on `stable` at 1.0.0 with a running rollout of 2.0.0 in its last wave.
async fn rollout_in_its_last_wave<S: Store>(store: &S) -> Rollout {
    seed_license(store, "acme").await;
    seed_releases(store, "acme", &["1.0.0", "2.0.0"]).await;
    store
        .set_channel_release("acme", "stable", "1.0.0", NOW)
        .await
        .unwrap();
    seed_rollout(
        store,
        Rollout {
            previous_version: Some("1.0.0".into()),
            wave_index: 2,
            ..rollout("acme", "stable", "2.0.0", RolloutState::Running, 0)
        },
    )
    .await
}

/// The audit entry of `action` on `acme/stable@2.0.0`.
fn rollout_event(action: &str, at: i64) -> AuditEvent {
    AuditEvent {
        at,
        actor: "operator".into(),
        action: action.into(),
        subject: "acme/stable@2.0.0".into(),
        detail: "{}".into(),
        request_id: String::new(),
    }
}

/// The ticker reads a rollout and decides to complete it; an operator's abort lands
/// first; the tick's stale change (rollout, channel switch and audit entry) is refused
/// whole: the channel stays on the previous release, the rollout aborted, the log
/// holds the abort only.
pub async fn an_abort_racing_a_wave_tick_leaves_the_channel_on_the_previous_release<S: Store>(
    store: Arc<S>,
) {
    let read = rollout_in_its_last_wave(&*store).await;
    let ticker_read = store
        .active_rollout("acme", "stable")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ticker_read, read);

    let abort = RolloutUpdate {
        rollout: Rollout {
            state: RolloutState::Aborted,
            reason: Some("aborted by an operator".into()),
            updated_at: NOW + 10,
            ..read.clone()
        },
        channel_release: Some("1.0.0".into()),
        audit: Some(rollout_event("rollout.abort", NOW + 10)),
    };
    let aborted = store.update_rollout(&abort).await.unwrap();
    assert_eq!(aborted.state, RolloutState::Aborted);
    assert_eq!(aborted.revision, read.revision + 1);

    let complete = RolloutUpdate {
        rollout: Rollout {
            state: RolloutState::Completed,
            updated_at: NOW + 11,
            ..ticker_read
        },
        channel_release: Some("2.0.0".into()),
        audit: Some(rollout_event("rollout.complete", NOW + 11)),
    };
    match store.update_rollout(&complete).await {
        Err(StoreError::Stale { what }) => assert!(what.contains("acme/stable"), "{what}"),
        other => panic!("a stale tick must be refused, got {other:?}"),
    }
    let channel = store.get_channel("acme", "stable").await.unwrap().unwrap();
    assert_eq!(channel.version.as_deref(), Some("1.0.0"));
    assert_eq!(
        store.channel_history("acme", "stable").await.unwrap(),
        ["1.0.0"],
        "the refused tick left no trace in the channel's history"
    );
    assert_eq!(store.list_rollouts("acme").await.unwrap(), [aborted]);
    let log = store.list_audit(10).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(actions, ["rollout.abort"]);
    assert_chain(&log);
}

/// A channel switch that cannot be made takes the rollout change and the audit entry
/// down with it.
pub async fn a_rollout_update_that_cannot_switch_its_channel_saves_nothing<S: Store>(
    store: Arc<S>,
) {
    let read = rollout_in_its_last_wave(&*store).await;
    let update = RolloutUpdate {
        rollout: Rollout {
            state: RolloutState::Completed,
            ..read.clone()
        },
        channel_release: Some("9.9.9".into()),
        audit: Some(rollout_event("rollout.complete", NOW + 1)),
    };
    assert_missing(store.update_rollout(&update).await, "acme@9.9.9");
    assert_eq!(
        store.active_rollout("acme", "stable").await.unwrap(),
        Some(read.clone()),
        "neither the state nor the revision moved"
    );
    assert!(store.list_audit(10).await.unwrap().is_empty());
    // The same read can still be saved: the refusal changed nothing.
    let saved = save(
        &*store,
        &Rollout {
            wave_index: 1,
            ..read
        },
    )
    .await
    .unwrap();
    assert_eq!(saved.wave_index, 1);
}

/// Ten concurrent changes made from the same read: one is saved, nine are stale, and
/// the log holds one entry.
pub async fn concurrent_rollout_updates_from_one_read_save_exactly_one<S: Store>(store: Arc<S>) {
    let read = rollout_in_its_last_wave(&*store).await;
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let store = Arc::clone(&store);
            let update = RolloutUpdate {
                rollout: Rollout {
                    reason: Some(format!("change {n}")),
                    ..read.clone()
                },
                channel_release: None,
                audit: Some(rollout_event("rollout.pause", NOW + n)),
            };
            tokio::spawn(async move { store.update_rollout(&update).await })
        })
        .collect();
    let (mut saved, mut stale) = (Vec::new(), 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(r) => saved.push(r),
            Err(StoreError::Stale { .. }) => stale += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((saved.len(), stale), (1, 9));
    assert_eq!(saved[0].revision, read.revision + 1);
    assert_eq!(
        store.active_rollout("acme", "stable").await.unwrap(),
        Some(saved[0].clone())
    );
    assert_eq!(store.list_audit(10).await.unwrap().len(), 1);
}

/// The check-in view carries the install's last report, as recorded, and the newest
/// request time accepted from it, whether by a signed request or a heartbeat batch: what
/// a control plane that has not seen the install yet needs to tell a heartbeat from a
/// change, and a replay from a new request.
pub async fn checkin_view_carries_the_last_report_and_the_newest_request<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.last_report, None, "never checked in");
    assert_eq!(view.running_version(), None);
    assert_eq!(view.newest_request_ms, 0);
    let mut recorded = report(NOW, Some("2.0.0"));
    recorded.target_version = Some("2.1.0".into());
    recorded.reason = Some(r#"{"code":"pull_failed","detail":"timeout"}"#.into());
    recorded.policy = Some("window sat 02:00-04:00".into());
    recorded.waiting = Some(r#"{"version":"2.1.0"}"#.into());
    store.record_checkin("i-1", &recorded, None).await.unwrap();
    assert!(store
        .accept_signed_request("i-1", NOW * 1000 + 5)
        .await
        .unwrap());
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.last_report.as_ref(), Some(&recorded));
    assert_eq!(view.running_version(), Some("2.0.0"));
    assert_eq!(view.newest_request_ms, NOW * 1000 + 5);
    store
        .record_heartbeats(&[Heartbeat {
            install_id: "i-1".into(),
            at: NOW + 60,
            signed_at_ms: NOW * 1000 + 60_000,
        }])
        .await
        .unwrap();
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.newest_request_ms, NOW * 1000 + 60_000);
    assert_eq!(view.last_report.map(|r| r.at), Some(NOW + 60));
}

/// A signed request is accepted once, and afterwards only a newer one: per install,
/// whatever check-ins are recorded in between.
pub async fn a_signed_request_is_accepted_only_when_newer<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    seed_install(&*store, &license, "i-2").await;
    let t = NOW * 1000;

    assert!(
        store.accept_signed_request("i-1", t).await.unwrap(),
        "first"
    );
    assert!(
        !store.accept_signed_request("i-1", t).await.unwrap(),
        "replay"
    );
    assert!(
        !store.accept_signed_request("i-1", t - 1).await.unwrap(),
        "older"
    );
    // Another install's requests are its own.
    assert!(store.accept_signed_request("i-2", t).await.unwrap(), "i-2");

    store
        .record_checkin("i-1", &report(NOW, None), Some(&assignment(1)))
        .await
        .unwrap();
    assert!(
        !store.accept_signed_request("i-1", t).await.unwrap(),
        "a recorded check-in does not reset the newest request"
    );
    assert!(
        store.accept_signed_request("i-1", t + 1).await.unwrap(),
        "newer"
    );
    assert!(
        !store.accept_signed_request("i-1", t).await.unwrap(),
        "older again"
    );
    assert!(
        !store.accept_signed_request("i-2", t).await.unwrap(),
        "i-2 replay"
    );
}

/// Twenty concurrent requests signed at the same millisecond: exactly one is accepted.
pub async fn concurrent_requests_signed_at_the_same_time_accept_one<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.accept_signed_request("i-1", NOW * 1000).await })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1, "exactly one of the same request is accepted");
}

/// A signed request of an install that does not exist is `Missing`, not a replay.
pub async fn a_signed_request_of_an_unknown_install_is_missing<S: Store>(store: Arc<S>) {
    assert_missing(
        store.accept_signed_request("ghost", NOW * 1000).await,
        "ghost",
    );
}

/// Uninstalling marks the install uninstalled and revoked, once: a second call keeps
/// the first time; its siblings are untouched.
pub async fn uninstalling_an_install_revokes_it_and_keeps_the_first_time<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    let kept = seed_install(&*store, &license, "i-2").await;
    assert!(store.uninstall_install("i-1", NOW + 5).await.unwrap());
    assert!(store.uninstall_install("i-1", NOW + 9).await.unwrap());
    let gone = store.get_install("i-1").await.unwrap().unwrap();
    assert!(gone.revoked);
    assert_eq!(gone.uninstalled_at, Some(NOW + 5));
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.install.uninstalled_at, Some(NOW + 5));
    let listed = store.list_installs(Some("acme")).await.unwrap();
    let row = listed.iter().find(|r| r.install.id == "i-1").unwrap();
    assert_eq!(row.install.uninstalled_at, Some(NOW + 5));
    assert_eq!(store.get_install("i-2").await.unwrap(), Some(kept));
    assert!(!store
        .uninstall_install("no-such-install", NOW)
        .await
        .unwrap());
}

// --- Bulk import (the load generator's seeding) ---

/// Install `id` of `license`, as a host registering would describe it.
pub(crate) fn install_of(license: &License, id: &str) -> Install {
    Install {
        id: id.into(),
        license_id: license.id.clone(),
        customer: license.customer.clone(),
        app: license.app.clone(),
        channel: license.channel.clone(),
        public_key: "cd".repeat(32),
        hostname: format!("host-{id}"),
        platform: "linux/amd64".into(),
        revoked: false,
        created_at: NOW,
        uninstalled_at: None,
    }
}

/// Install `id` of `license` as registration and one check-in leave it.
fn imported(license: &License, id: &str, sequence: u64) -> ImportedInstall {
    ImportedInstall {
        install: install_of(license, id),
        registered: AuditEvent {
            at: NOW,
            actor: format!("install:{id}"),
            action: "install.register".into(),
            subject: id.into(),
            detail: format!(
                "{{\"license\":\"{}\",\"hostname\":\"host-{id}\"}}",
                license.id
            ),
            request_id: String::new(),
        },
        report: Some(report(NOW + 1, Some("1.0.0"))),
        assignment: Some(assignment(sequence)),
        newest_request_ms: Some(NOW * 1000 + 7),
    }
}

/// Imported installs read back as registered and checked in: rows, reports,
/// assignments, replay clocks, and one audit entry each, chained after the log's head.
pub async fn imported_installs_are_what_registration_and_a_checkin_leave<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    store.append_audit(&audit_event(1)).await.unwrap();
    let batch: Vec<_> = (1..=3)
        .map(|n| imported(&license, &format!("i-{n}"), n))
        .collect();
    store.import_installs(&batch).await.unwrap();
    store.import_installs(&[]).await.unwrap();

    for item in &batch {
        let id = item.install.id.as_str();
        assert_eq!(
            store.get_install(id).await.unwrap().as_ref(),
            Some(&item.install)
        );
        let view = store.checkin_view(id).await.unwrap().unwrap();
        assert_eq!(view.assignment, item.assignment, "{id}");
        assert_eq!(view.running_version(), Some("1.0.0"), "{id}");
        assert!(
            !store
                .accept_signed_request(id, NOW * 1000 + 7)
                .await
                .unwrap(),
            "{id}: a request no newer than the imported clock is a replay"
        );
        assert!(store
            .accept_signed_request(id, NOW * 1000 + 8)
            .await
            .unwrap());
    }
    let fleet = store.list_installs(Some("acme")).await.unwrap();
    let reports: Vec<_> = fleet.iter().map(|s| s.last_report.clone()).collect();
    assert_eq!(reports, vec![batch[0].report.clone(); 3]);

    let log = store.list_audit(10).await.unwrap();
    assert_eq!(log.len(), 4, "the earlier entry and one per install");
    let registered: Vec<_> = log[..3].iter().rev().map(|e| e.event.clone()).collect();
    let expected: Vec<_> = batch.iter().map(|i| i.registered.clone()).collect();
    assert_eq!(registered, expected, "in import order");
    assert_chain(&log);
}

/// An import naming a missing license or channel, or a taken install id, stores none
/// of its installs and no audit entry.
pub async fn an_import_that_cannot_be_stored_whole_stores_nothing<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "taken").await;

    let mut orphan = imported(&license, "i-2", 1);
    orphan.install.license_id = "lic-nope".into();
    let result = store
        .import_installs(&[imported(&license, "i-1", 1), orphan])
        .await;
    assert_missing(result, "lic-nope");

    let mut lost = imported(&license, "i-2", 1);
    lost.install.channel = "nope".into();
    let result = store
        .import_installs(&[imported(&license, "i-1", 1), lost])
        .await;
    assert_missing(result, "acme/nope");

    let result = store
        .import_installs(&[imported(&license, "i-1", 1), imported(&license, "taken", 1)])
        .await;
    assert_conflict(result, "taken");

    assert!(store.get_install("i-1").await.unwrap().is_none());
    assert!(store.list_audit(10).await.unwrap().is_empty());
    assert_eq!(store.list_installs(None).await.unwrap().len(), 1);
}

fn session(install_id: &str, session_id: &str, byte: u8, expires_at: i64) -> StoredSession {
    StoredSession {
        install_id: install_id.into(),
        session_id: session_id.into(),
        key: [byte; 32],
        expires_at,
    }
}

/// `put_session` stores an install's session; a second replaces the first.
pub async fn a_new_session_replaces_the_old_one<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    seed_install(&*store, &license, "i-2").await;
    assert_eq!(store.get_session("i-1").await.unwrap(), None);
    let first = session("i-1", "s-1", 1, NOW + 60);
    store.put_session(&first).await.unwrap();
    assert_eq!(store.get_session("i-1").await.unwrap(), Some(first));
    let second = session("i-1", "s-2", 2, NOW + 120);
    store.put_session(&second).await.unwrap();
    assert_eq!(
        store.get_session("i-1").await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(store.get_session("i-2").await.unwrap(), None, "its own");
    // The check-in read carries the session, so a reloaded cache entry needs no
    // second query.
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.session, Some(second));
    let view = store.checkin_view("i-2").await.unwrap().unwrap();
    assert_eq!(view.session, None, "an install without one");
}

/// A session of an install that does not exist is refused, and nothing is stored.
pub async fn a_session_of_an_unknown_install_is_missing<S: Store>(store: Arc<S>) {
    let err = store
        .put_session(&session("nope", "s-1", 1, NOW))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err:?}");
    assert_eq!(store.get_session("nope").await.unwrap(), None);
}

/// A batch of heartbeats moves the last report time and the newest request time
/// forward, never back; an unknown install in the batch is skipped.
pub async fn heartbeats_move_report_and_request_times_forward_only<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    store
        .record_checkin("i-1", &report(NOW, None), None)
        .await
        .unwrap();
    assert!(store
        .accept_signed_request("i-1", NOW * 1000)
        .await
        .unwrap());
    let beat = |id: &str, at: i64, ms: i64| Heartbeat {
        install_id: id.into(),
        at,
        signed_at_ms: ms,
    };
    store
        .record_heartbeats(&[
            beat("i-1", NOW + 30, NOW * 1000 + 30_000),
            beat("gone", NOW, 1),
        ])
        .await
        .unwrap();
    let last_at = |rows: Vec<driftless_store::InstallSummary>| {
        rows.into_iter()
            .find(|r| r.install.id == "i-1")
            .and_then(|r| r.last_report)
            .map(|r| r.at)
    };
    assert_eq!(
        last_at(store.list_installs(None).await.unwrap()),
        Some(NOW + 30)
    );
    assert!(
        !store
            .accept_signed_request("i-1", NOW * 1000 + 30_000)
            .await
            .unwrap(),
        "the heartbeat's request time is the newest accepted"
    );
    // An older heartbeat (a late batch) moves nothing back.
    store
        .record_heartbeats(&[beat("i-1", NOW + 10, NOW * 1000 + 10_000)])
        .await
        .unwrap();
    assert_eq!(
        last_at(store.list_installs(None).await.unwrap()),
        Some(NOW + 30)
    );
    assert!(store
        .accept_signed_request("i-1", NOW * 1000 + 30_001)
        .await
        .unwrap());
}

/// Every change a cached check-in answer depends on appears in the feed, in order.
pub async fn the_change_feed_names_what_a_check_in_depends_on<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    seed_releases(&*store, "acme", &["1.0.0"]).await;
    let start = store.latest_change_seq().await.unwrap();
    store
        .set_channel_release("acme", "stable", "1.0.0", NOW)
        .await
        .unwrap();
    store
        .set_release_state("acme", "1.0.0", ReleaseState::Deprecated)
        .await
        .unwrap();
    store
        .put_session(&session("i-1", "s-1", 1, NOW))
        .await
        .unwrap();
    store.revoke_install("i-1", NOW).await.unwrap();
    let changes = store.changes_since(start, 100).await.unwrap();
    let seen: Vec<(ChangeKind, &str)> = changes.iter().map(|c| (c.kind, c.key.as_str())).collect();
    for expected in [
        (ChangeKind::Channel, "acme/stable"),
        (ChangeKind::App, "acme"),
        (ChangeKind::Install, "i-1"),
    ] {
        assert!(
            seen.contains(&expected),
            "{expected:?} missing from {seen:?}"
        );
    }
    assert!(
        changes.windows(2).all(|w| w[0].seq < w[1].seq),
        "{changes:?}"
    );
    let newest = store.latest_change_seq().await.unwrap();
    assert_eq!(changes.last().map(|c: &Change| c.seq), Some(newest));
    assert!(store.changes_since(newest, 100).await.unwrap().is_empty());
    assert_eq!(
        store.changes_since(start, 1).await.unwrap().len(),
        1,
        "limit"
    );
    // Pruning drops entries older than the given time, and positions go on.
    assert!(store.prune_changes(i64::MAX).await.unwrap() >= 3);
    assert!(store.changes_since(0, 100).await.unwrap().is_empty());
    store.move_install("i-1", "stable").await.unwrap();
    assert!(
        store.latest_change_seq().await.unwrap() > newest,
        "a move is a change, numbered after the pruned ones"
    );
}

/// Check-ins, accepted requests and heartbeats are not changes: they would flood the
/// feed and empty every replica's cache.
pub async fn the_check_ins_own_writes_leave_the_change_feed_alone<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    let start = store.latest_change_seq().await.unwrap();
    store
        .record_checkin("i-1", &report(NOW, None), Some(&assignment(1)))
        .await
        .unwrap();
    assert!(store
        .accept_signed_request("i-1", NOW * 1000)
        .await
        .unwrap());
    store
        .record_heartbeats(&[Heartbeat {
            install_id: "i-1".into(),
            at: NOW,
            signed_at_ms: NOW * 1000 + 1,
        }])
        .await
        .unwrap();
    assert!(store.changes_since(start, 100).await.unwrap().is_empty());
}
