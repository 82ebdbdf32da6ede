//! License terms: stored and read back, counted seats (one registration per free seat,
//! even when they race), and the check-in view and change feed that follow a change.

use std::sync::Arc;

use driftless_store::{ChangeKind, LicenseTerms, Store, StoreError};
use driftless_wire::entitlements::Entitlement;

use crate::{install_of, seed_install, seed_license, NOW};

/// Generates the license checks for `$open` (see [`crate::conformance_tests`]).
#[macro_export]
macro_rules! license_conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@each $open;
            license_terms_round_trip_and_default_to_no_limits,
            registrations_stop_at_the_seats_and_a_revoked_install_frees_one,
            concurrent_registrations_take_each_seat_once,
            a_terms_change_reaches_the_checkin_view_and_the_change_feed,
        );
    };
}

fn terms() -> LicenseTerms {
    LicenseTerms {
        expires_at: Some(NOW + 86_400),
        grace_s: 3_600,
        seats: Some(2),
        channels: vec!["stable".into()],
        entitlements: [
            ("feature_sso".to_string(), Entitlement::Bool(true)),
            ("max_users".to_string(), Entitlement::Int(50)),
            ("tier".to_string(), Entitlement::Str("gold".into())),
        ]
        .into(),
    }
}

/// Terms are stored and read back whole; a license without any allows everything.
pub async fn license_terms_round_trip_and_default_to_no_limits<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    let (read, none) = store.get_license(&license.id).await.unwrap().unwrap();
    assert_eq!(read, license);
    assert_eq!(none, LicenseTerms::default());
    assert!(store
        .set_license_terms(&license.id, &terms())
        .await
        .unwrap());
    let (_, read) = store.get_license(&license.id).await.unwrap().unwrap();
    assert_eq!(read, terms());
    assert!(!store.set_license_terms("nope", &terms()).await.unwrap());
    assert_eq!(store.get_license("nope").await.unwrap(), None);
}

/// Registration stops at the seats; a revoked or uninstalled install frees its seat.
pub async fn registrations_stop_at_the_seats_and_a_revoked_install_frees_one<S: Store>(
    store: Arc<S>,
) {
    let license = seed_license(&*store, "acme").await;
    store
        .set_license_terms(&license.id, &terms())
        .await
        .unwrap();
    for id in ["i-1", "i-2"] {
        assert!(store
            .register_install(&install_of(&license, id))
            .await
            .unwrap());
    }
    assert!(!store
        .register_install(&install_of(&license, "i-3"))
        .await
        .unwrap());
    assert_eq!(
        store.get_install("i-3").await.unwrap(),
        None,
        "nothing stored"
    );
    store.revoke_install("i-1", NOW).await.unwrap();
    assert!(store
        .register_install(&install_of(&license, "i-3"))
        .await
        .unwrap());
    store.uninstall_install("i-2", NOW).await.unwrap();
    assert!(store
        .register_install(&install_of(&license, "i-4"))
        .await
        .unwrap());
    assert!(!store
        .register_install(&install_of(&license, "i-5"))
        .await
        .unwrap());
    // Another license's installs take none of its seats; a missing one is `Missing`.
    let other = seed_license(&*store, "other").await;
    seed_install(&*store, &other, "o-1").await;
    let mut orphan = install_of(&license, "i-6");
    orphan.license_id = "lic-nope".into();
    assert!(matches!(
        store.register_install(&orphan).await,
        Err(StoreError::Missing { .. })
    ));
}

/// Of concurrent registrations, exactly as many as there are seats are stored.
pub async fn concurrent_registrations_take_each_seat_once<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    let seats = 3;
    let t = LicenseTerms {
        seats: Some(seats),
        ..LicenseTerms::default()
    };
    store.set_license_terms(&license.id, &t).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let store = store.clone();
            let install = install_of(&license, &format!("i-{n}"));
            tokio::spawn(async move { store.register_install(&install).await })
        })
        .collect();
    let mut registered = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            registered += 1;
        }
    }
    assert_eq!(registered, seats, "exactly one registration per seat");
    let stored = store.list_installs(Some("acme")).await.unwrap();
    assert_eq!(stored.len(), 3);
}

/// A change of terms is in the next check-in view and names the license's installs
/// in the change feed.
pub async fn a_terms_change_reaches_the_checkin_view_and_the_change_feed<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.license, Default::default());
    let before = store.latest_change_seq().await.unwrap();
    store
        .set_license_terms(&license.id, &terms())
        .await
        .unwrap();
    let view = store.checkin_view("i-1").await.unwrap().unwrap();
    assert_eq!(view.license, terms().for_checkin());
    let changes = store.changes_since(before, 100).await.unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c.kind == ChangeKind::Install && c.key == "i-1"),
        "{changes:?}"
    );
}
