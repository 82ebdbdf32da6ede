//! Checks of the support bundles installs upload: stored whole, listed per install,
//! readable only under the install that uploaded them.

use std::sync::Arc;

use driftless_store::{Store, StoreError};

use crate::{seed_install, seed_license, NOW};

/// Generates the support-bundle checks; `conformance_tests!` includes them.
#[macro_export]
macro_rules! support_bundle_conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@each $open;
            support_bundles_are_listed_per_install_newest_first,
            a_support_bundle_of_an_unknown_install_is_missing,
        );
    };
}

/// Each upload gets a new number; an install lists only its own, newest first, and
/// reads back exactly the bytes it sent; another install's number reads as none.
pub async fn support_bundles_are_listed_per_install_newest_first<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "ins-a").await;
    seed_install(&*store, &license, "ins-b").await;
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let first = store
        .put_support_bundle("ins-a", &big, "sha256:aa", NOW)
        .await
        .unwrap();
    let other = store
        .put_support_bundle("ins-b", b"b", "sha256:bb", NOW + 1)
        .await
        .unwrap();
    let second = store
        .put_support_bundle("ins-a", b"second", "sha256:cc", NOW + 2)
        .await
        .unwrap();
    assert!(
        first.id < other.id && other.id < second.id,
        "numbers increase"
    );
    assert_eq!((first.size, first.install_id.as_str()), (300_000, "ins-a"));

    let listed = store.list_support_bundles("ins-a").await.unwrap();
    assert_eq!(listed, vec![second.clone(), first.clone()]);
    let (info, bytes) = store
        .get_support_bundle("ins-a", first.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((info, bytes), (first, big));
    assert!(store
        .get_support_bundle("ins-a", other.id)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .list_support_bundles("ins-none")
        .await
        .unwrap()
        .is_empty());
}

/// A bundle for an install that does not exist is refused, and nothing is stored.
pub async fn a_support_bundle_of_an_unknown_install_is_missing<S: Store>(store: Arc<S>) {
    let err = store
        .put_support_bundle("ins-none", b"x", "sha256:aa", NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err:?}");
    assert!(store
        .list_support_bundles("ins-none")
        .await
        .unwrap()
        .is_empty());
}
