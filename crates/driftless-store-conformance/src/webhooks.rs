//! Checks of webhooks: registrations per app, one queued delivery per webhook that
//! wants an event, episodes sent once, and the delivery queue's lease (exclusive
//! claims, expiry, completion only by the holder, with its audit entry).

use std::collections::BTreeSet;
use std::sync::Arc;

use driftless_store::{
    AuditEvent, DeliveryAttempt, DeliveryState, NewWebhook, Store, StoreError, WebhookEvent,
};

use crate::{seed_license, NOW};

/// Generates the webhook checks; `conformance_tests!` includes them.
#[macro_export]
macro_rules! webhook_conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@each $open;
            webhooks_are_registered_listed_and_removed,
            events_queue_a_delivery_per_interested_webhook_and_episodes_send_once,
            deliveries_are_claimed_once_until_the_lease_runs_out,
        );
    };
}

fn hook(app: &str, url: &str, events: &[&str]) -> NewWebhook {
    NewWebhook {
        app: app.into(),
        url: url.into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        secret: format!("whsec_{url}"),
        created_at: NOW,
    }
}

fn event(app: &str, kind: &str, id: &str, opens_episode: bool) -> WebhookEvent {
    WebhookEvent {
        app: app.into(),
        kind: kind.into(),
        event_id: id.into(),
        body: format!(r#"{{"id":"{id}"}}"#),
        at: NOW,
        opens_episode,
    }
}

/// A webhook of an unknown app is missing; the others list per app with their
/// secret, and one is removed only under its own app.
pub async fn webhooks_are_registered_listed_and_removed<S: Store>(store: Arc<S>) {
    seed_license(&*store, "acme").await;
    seed_license(&*store, "other").await;
    let missing = store.create_webhook(&hook("nope", "https://a", &[])).await;
    assert!(
        matches!(missing, Err(StoreError::Missing { .. })),
        "{missing:?}"
    );
    let a = store
        .create_webhook(&hook("acme", "https://a", &[]))
        .await
        .unwrap();
    let b = store
        .create_webhook(&hook("acme", "https://b", &["rollout.halted"]))
        .await
        .unwrap();
    let c = store
        .create_webhook(&hook("other", "https://c", &[]))
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(b.events, vec!["rollout.halted".to_string()]);
    assert_eq!(b.secret, "whsec_https://b");
    let acme = store.list_webhooks(Some("acme")).await.unwrap();
    assert_eq!(acme, vec![a.clone(), b.clone()]);
    assert_eq!(store.list_webhooks(None).await.unwrap().len(), 3);
    assert!(
        !store.delete_webhook("other", a.id).await.unwrap(),
        "not under another app"
    );
    assert!(store.delete_webhook("acme", a.id).await.unwrap());
    assert!(
        !store.delete_webhook("acme", a.id).await.unwrap(),
        "gone already"
    );
    assert_eq!(store.list_webhooks(Some("acme")).await.unwrap(), vec![b]);
    assert_eq!(store.list_webhooks(Some("other")).await.unwrap(), vec![c]);
}

/// An event queues one delivery per webhook of its app that wants its type; an event
/// that opens an episode is queued once until the episode is closed.
pub async fn events_queue_a_delivery_per_interested_webhook_and_episodes_send_once<S: Store>(
    store: Arc<S>,
) {
    seed_license(&*store, "acme").await;
    seed_license(&*store, "other").await;
    store
        .create_webhook(&hook("acme", "https://all", &[]))
        .await
        .unwrap();
    store
        .create_webhook(&hook("acme", "https://halts", &["rollout.halted"]))
        .await
        .unwrap();
    store
        .create_webhook(&hook("other", "https://o", &[]))
        .await
        .unwrap();
    let halted = event("acme", "rollout.halted", "whe_1", false);
    assert_eq!(store.enqueue_webhook_event(&halted).await.unwrap(), Some(2));
    let yanked = event("acme", "release.yanked", "whe_2", false);
    assert_eq!(store.enqueue_webhook_event(&yanked).await.unwrap(), Some(1));
    let spike = event("acme", "fleet.failure_spike", "whe_3", true);
    assert_eq!(store.enqueue_webhook_event(&spike).await.unwrap(), Some(1));
    let again = event("acme", "fleet.failure_spike", "whe_4", true);
    assert_eq!(
        store.enqueue_webhook_event(&again).await.unwrap(),
        None,
        "episode open"
    );
    assert!(store
        .close_webhook_episode("acme", "fleet.failure_spike")
        .await
        .unwrap());
    assert!(!store
        .close_webhook_episode("acme", "fleet.failure_spike")
        .await
        .unwrap());
    assert_eq!(
        store.enqueue_webhook_event(&again).await.unwrap(),
        Some(1),
        "a new episode"
    );
    let queued = store.list_webhook_deliveries("acme", 100).await.unwrap();
    let ids: Vec<&str> = queued.iter().map(|d| d.event_id.as_str()).collect();
    assert_eq!(
        ids,
        ["whe_4", "whe_3", "whe_2", "whe_1", "whe_1"],
        "newest first"
    );
    assert!(queued
        .iter()
        .all(|d| d.state == DeliveryState::Pending && d.attempts == 0));
    assert_eq!(queued[0].body, r#"{"id":"whe_4"}"#);
    assert!(store
        .list_webhook_deliveries("other", 100)
        .await
        .unwrap()
        .is_empty());
}

fn attempt(
    id: u64,
    holder: &str,
    state: DeliveryState,
    attempts: u32,
    next: i64,
) -> DeliveryAttempt {
    DeliveryAttempt {
        id,
        holder: holder.into(),
        state,
        attempts,
        next_attempt_ms: next,
        status: Some(500),
        error: Some("the receiver answered 500".into()),
        audit: AuditEvent {
            at: NOW,
            actor: "system".into(),
            action: format!("webhook.{}", state.name()),
            subject: format!("acme/webhooks/{id}"),
            detail: "{}".into(),
            request_id: String::new(),
        },
    }
}

/// Concurrent claims never share a delivery; a claimed one is not claimed again
/// until its lease runs out; only the holder saves an outcome (with its audit entry);
/// a retry is not due before its time; a finished one is never claimed again.
pub async fn deliveries_are_claimed_once_until_the_lease_runs_out<S: Store>(store: Arc<S>) {
    seed_license(&*store, "acme").await;
    store
        .create_webhook(&hook("acme", "https://all", &[]))
        .await
        .unwrap();
    for i in 0..6 {
        let e = event("acme", "rollout.halted", &format!("whe_{i}"), false);
        store.enqueue_webhook_event(&e).await.unwrap();
    }
    let t = NOW * 1000;
    let claims = (0..3).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_webhook_deliveries(&format!("r{i}"), t, 1000, 2)
                .await
                .unwrap()
        })
    });
    let mut seen = BTreeSet::new();
    for claim in claims {
        for d in claim.await.unwrap() {
            assert!(seen.insert(d.id), "delivery {} claimed twice", d.id);
        }
    }
    assert_eq!(seen.len(), 6, "every delivery claimed once");
    assert!(store
        .claim_webhook_deliveries("late", t + 999, 1000, 10)
        .await
        .unwrap()
        .is_empty());
    let back = store
        .claim_webhook_deliveries("r9", t + 1000, 1000, 1)
        .await
        .unwrap();
    assert_eq!(back.len(), 1, "a lease that ran out is claimed again");
    let d = &back[0];
    assert_eq!(d.url, "https://all");
    assert_eq!(d.secret, "whsec_https://all");
    let audit_before = store.list_audit(1000).await.unwrap().len();
    for first in ["r0", "r1", "r2"] {
        // Whoever held it first lost it to r9: its outcome is not saved.
        let stale = attempt(d.id, first, DeliveryState::Delivered, 1, t);
        assert!(
            !store.finish_webhook_delivery(&stale).await.unwrap(),
            "{first}"
        );
    }
    let retry = attempt(d.id, "r9", DeliveryState::Pending, 1, t + 5000);
    assert!(store.finish_webhook_delivery(&retry).await.unwrap());
    assert_eq!(
        store.list_audit(1000).await.unwrap().len(),
        audit_before + 1
    );
    let not_due = store
        .claim_webhook_deliveries("r9", t + 4999, 10_000, 10)
        .await
        .unwrap();
    assert!(
        not_due.iter().all(|x| x.id != d.id),
        "not due before its retry time"
    );
    let due = store
        .claim_webhook_deliveries("r8", t + 5000, 1000, 10)
        .await
        .unwrap();
    let again = due
        .iter()
        .find(|x| x.id == d.id)
        .expect("due at its retry time");
    assert_eq!((again.attempts, again.last_status), (1, Some(500)));
    let done = attempt(d.id, "r8", DeliveryState::Delivered, 2, t + 5000);
    assert!(store.finish_webhook_delivery(&done).await.unwrap());
    assert!(
        !store.finish_webhook_delivery(&done).await.unwrap(),
        "finished once"
    );
    let later = store
        .claim_webhook_deliveries("r7", t + 1_000_000, 1000, 100)
        .await
        .unwrap();
    assert!(
        later.iter().all(|x| x.id != d.id),
        "a delivered one is never sent again"
    );
    let listed = store.list_webhook_deliveries("acme", 100).await.unwrap();
    let row = listed.iter().find(|x| x.id == d.id).unwrap();
    assert_eq!((row.state, row.attempts), (DeliveryState::Delivered, 2));
}
