//! Checks of the audit log's proof: entries keep the request id their hash covers, and
//! signed checkpoints are kept one per tree size.

use std::sync::Arc;

use driftless_store::audit_chain::{entry_hash, GENESIS_HASH};
use driftless_store::{AuditEvent, Store};

/// Generates the audit checkpoint checks; `conformance_tests!` includes them.
#[macro_export]
macro_rules! audit_checkpoint_conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@each $open;
            an_audit_entry_keeps_its_request_id_under_its_hash,
            audit_checkpoints_keep_one_per_tree_size,
            concurrent_checkpoints_of_one_tree_size_store_exactly_one,
        );
    };
}

/// The request id is stored, read back, and covered by the entry's hash.
pub async fn an_audit_entry_keeps_its_request_id_under_its_hash<S: Store>(store: Arc<S>) {
    let event = AuditEvent {
        at: 1_700_000_000,
        actor: "operator".into(),
        action: "app.create".into(),
        subject: "acme".into(),
        detail: "{}".into(),
        request_id: "deploy-42".into(),
    };
    store.append_audit(&event).await.unwrap();
    let log = store.list_audit(1).await.unwrap();
    assert_eq!(log[0].event, event);
    assert_eq!(log[0].hash, entry_hash(GENESIS_HASH, &event));
    let page = store.list_audit_page(None, 1).await.unwrap();
    assert_eq!(page.items[0].event.request_id, "deploy-42");
}

/// The first checkpoint of a tree size is kept; the newest is the largest tree size.
pub async fn audit_checkpoints_keep_one_per_tree_size<S: Store>(store: Arc<S>) {
    assert_eq!(store.latest_audit_checkpoint().await.unwrap(), None);
    assert!(store.save_audit_checkpoint(3, "{\"a\":3}").await.unwrap());
    assert!(!store.save_audit_checkpoint(3, "{\"b\":3}").await.unwrap());
    assert!(store.save_audit_checkpoint(5, "{\"a\":5}").await.unwrap());
    assert!(store.save_audit_checkpoint(4, "{\"a\":4}").await.unwrap());
    let newest = store.latest_audit_checkpoint().await.unwrap().unwrap();
    assert_eq!(
        (newest.tree_size, newest.envelope.as_str()),
        (5, "{\"a\":5}")
    );
}

/// Replicas signing the same head at once store one checkpoint.
pub async fn concurrent_checkpoints_of_one_tree_size_store_exactly_one<S: Store>(store: Arc<S>) {
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .save_audit_checkpoint(7, &format!("{{\"replica\":{n}}}"))
                    .await
            })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        stored += usize::from(task.await.unwrap().unwrap());
    }
    assert_eq!(stored, 1);
    let kept = store.latest_audit_checkpoint().await.unwrap().unwrap();
    assert_eq!(kept.tree_size, 7);
}
