//! Checks of what replicas share through the store: the trust state, artifacts and
//! leases.

use std::sync::Arc;

use driftless_store::{Store, TrustState};

/// Generates the replica checks; `conformance_tests!` includes them.
#[macro_export]
macro_rules! replica_conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@each $open;
            trust_is_published_only_when_newer,
            concurrent_publishes_of_one_version_store_exactly_one,
            artifacts_are_stored_once_under_their_digest,
            a_lease_has_one_holder_until_it_expires,
            concurrent_lease_takers_get_one_lease,
        );
    };
}

fn trust(version: u64, director: &str) -> TrustState {
    TrustState {
        root_version: version,
        roots: (1..=version).map(|v| format!("{{\"root\":{v}}}")).collect(),
        director_pem: director.to_string(),
        token_key_pem: format!("token key of v{version}"),
        token_cert_pem: format!("token cert of v{version}"),
        checkpoint_pem: Some(format!("checkpoint key of v{version}")),
    }
}

/// A newer version replaces what is served; the same or an older one changes nothing.
pub async fn trust_is_published_only_when_newer<S: Store>(store: Arc<S>) {
    assert_eq!(store.trust_version().await.unwrap(), 0);
    assert!(store.trust_state().await.unwrap().is_none());
    assert!(store.publish_trust(&trust(2, "d2")).await.unwrap());
    assert_eq!(store.trust_version().await.unwrap(), 2);
    assert_eq!(store.trust_state().await.unwrap(), Some(trust(2, "d2")));

    assert!(
        !store.publish_trust(&trust(1, "d1")).await.unwrap(),
        "older"
    );
    assert!(
        !store.publish_trust(&trust(2, "other")).await.unwrap(),
        "same"
    );
    assert_eq!(store.trust_state().await.unwrap(), Some(trust(2, "d2")));

    assert!(store.publish_trust(&trust(3, "d3")).await.unwrap());
    assert_eq!(store.trust_version().await.unwrap(), 3);
    let served = store.trust_state().await.unwrap().unwrap();
    assert_eq!(served, trust(3, "d3"));
    assert_eq!(served.roots.len(), 3, "every root version, oldest first");
}

/// Replicas racing to publish one rotation: one wins, the state is the winner's.
pub async fn concurrent_publishes_of_one_version_store_exactly_one<S: Store>(store: Arc<S>) {
    store.publish_trust(&trust(1, "d1")).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let state = trust(2, &format!("replica {i}"));
                (store.publish_trust(&state).await.unwrap(), state)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (won, state) = t.await.unwrap();
        if won {
            winners.push(state);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one publish of version 2 wins");
    assert_eq!(store.trust_state().await.unwrap().as_ref(), winners.first());
}

/// An artifact is stored once per digest; a second upload keeps the first bytes.
pub async fn artifacts_are_stored_once_under_their_digest<S: Store>(store: Arc<S>) {
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    assert!(store.get_artifact("sha256:aa").await.unwrap().is_none());
    assert!(store.put_artifact("sha256:aa", &bytes, 1).await.unwrap());
    assert!(!store.put_artifact("sha256:aa", b"other", 2).await.unwrap());
    assert!(store.get_artifact("sha256:aa").await.unwrap() == Some(bytes));
    assert!(store.get_artifact("sha256:bb").await.unwrap().is_none());
}

/// A lease is its holder's (renewable) until it expires, then anyone's.
pub async fn a_lease_has_one_holder_until_it_expires<S: Store>(store: Arc<S>) {
    assert!(store.try_lease("ticker", "a", 1_000, 300).await.unwrap());
    assert!(!store.try_lease("ticker", "b", 1_100, 300).await.unwrap());
    assert!(
        store.try_lease("ticker", "a", 1_200, 300).await.unwrap(),
        "renewed to 1500"
    );
    assert!(!store.try_lease("ticker", "b", 1_400, 300).await.unwrap());
    assert!(
        store.try_lease("other", "b", 1_400, 300).await.unwrap(),
        "leases are per name"
    );
    assert!(
        store.try_lease("ticker", "b", 1_500, 300).await.unwrap(),
        "expired: taken over"
    );
    assert!(
        !store.try_lease("ticker", "a", 1_600, 300).await.unwrap(),
        "a lost it"
    );
}

/// Replicas racing for an expired lease: exactly one holds it.
pub async fn concurrent_lease_takers_get_one_lease<S: Store>(store: Arc<S>) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .try_lease("ticker", &format!("replica {i}"), 5_000, 1_000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut held = 0;
    for t in tasks {
        held += usize::from(t.await.unwrap());
    }
    assert_eq!(held, 1);
}
