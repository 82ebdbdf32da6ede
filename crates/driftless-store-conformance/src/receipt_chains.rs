//! Checks of the receipt chain of air-gapped installs: the first receipt starts it,
//! each next one must name the last as its previous; a fork, a gap or a replay is
//! refused, naming the last receipt linked.

use std::sync::Arc;

use driftless_store::{ReceiptLink, Store};

use crate::{seed_install, seed_license};

/// Generates the receipt-chain checks; `conformance_tests!` includes them.
#[macro_export]
macro_rules! receipt_chain_conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@each $open;
            receipts_link_only_onto_the_last_one,
            of_two_concurrent_forks_exactly_one_links,
        );
    };
}

fn refused(sequence: i64, digest: &str) -> ReceiptLink {
    ReceiptLink::Refused {
        sequence,
        digest: digest.into(),
    }
}

/// The first receipt links whatever it names; then only one naming the last does,
/// per install.
pub async fn receipts_link_only_onto_the_last_one<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "ins-a").await;
    seed_install(&*store, &license, "ins-b").await;
    let link = |id: &'static str, prev: Option<&'static str>, seq: i64, d: &'static str| {
        let store = store.clone();
        async move { store.link_receipt(id, prev, seq, d).await.unwrap() }
    };
    assert_eq!(
        link("ins-a", Some("d0"), 4, "d4").await,
        ReceiptLink::Linked
    );
    assert_eq!(
        link("ins-a", Some("d4"), 5, "d5").await,
        ReceiptLink::Linked
    );
    // A fork of receipt 4, a replay of 5, a gap after 5, a second "first".
    assert_eq!(link("ins-a", Some("d4"), 5, "x5").await, refused(5, "d5"));
    assert_eq!(link("ins-a", Some("d4"), 5, "d5").await, refused(5, "d5"));
    assert_eq!(link("ins-a", Some("d6"), 7, "d7").await, refused(5, "d5"));
    assert_eq!(link("ins-a", None, 1, "d1").await, refused(5, "d5"));
    // Another install's chain is its own.
    assert_eq!(link("ins-b", None, 1, "d5").await, ReceiptLink::Linked);
    assert_eq!(
        link("ins-a", Some("d5"), 6, "d6").await,
        ReceiptLink::Linked
    );
}

/// Two receipts naming the same previous one, linked at once: exactly one is.
pub async fn of_two_concurrent_forks_exactly_one_links<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "ins-a").await;
    store.link_receipt("ins-a", None, 1, "d1").await.unwrap();
    let tasks: Vec<_> = ["f1", "f2", "f3", "f4"]
        .into_iter()
        .map(|d| {
            let store = store.clone();
            tokio::spawn(async move { store.link_receipt("ins-a", Some("d1"), 2, d).await })
        })
        .collect();
    let mut linked = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() == ReceiptLink::Linked {
            linked += 1;
        }
    }
    assert_eq!(linked, 1);
}
