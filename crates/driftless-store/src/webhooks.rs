//! Webhooks in domain types: the registered URLs with their signing secrets, and the
//! delivery queue (one row per event and webhook) that replicas claim with a lease.

use serde::{Deserialize, Serialize};

use crate::AuditEvent;

/// A webhook to register.
#[derive(Clone, PartialEq, Eq)]
pub struct NewWebhook {
    /// The app whose events it receives.
    pub app: String,
    /// Where events are POSTed.
    pub url: String,
    /// Event types it receives; empty means every type.
    pub events: Vec<String>,
    /// The signing secret (never logged: `Debug` leaves it out).
    pub secret: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A registered webhook.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Assigned by the store.
    pub id: u64,
    /// The app whose events it receives.
    pub app: String,
    /// Where events are POSTed.
    pub url: String,
    /// Event types it receives; empty means every type.
    pub events: Vec<String>,
    /// The signing secret (never logged: `Debug` leaves it out).
    pub secret: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl Webhook {
    /// Whether it receives events of type `kind`.
    pub fn wants(&self, kind: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == kind)
    }
}

impl std::fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhook")
            .field("app", &self.app)
            .field("url", &self.url)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("app", &self.app)
            .field("url", &self.url)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// An event to queue for every webhook of its app that wants its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The app it is about.
    pub app: String,
    /// Its type, e.g. `rollout.halted`.
    pub kind: String,
    /// Unique per event (in the body too).
    pub event_id: String,
    /// The exact body every attempt sends.
    pub body: String,
    /// Unix seconds.
    pub at: i64,
    /// Queue it only if no episode of (`app`, `kind`) is open, and open one: an event
    /// that lasts (a failure spike) is sent once until [`crate::Store::close_webhook_episode`].
    pub opens_episode: bool,
}

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; no more are made.
    Failed,
}

impl DeliveryState {
    /// The name stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One event queued for one webhook, with what sending it needs.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// Assigned by the store.
    pub id: u64,
    /// The webhook.
    pub webhook_id: u64,
    /// The webhook's app.
    pub app: String,
    /// The webhook's URL.
    pub url: String,
    /// The webhook's secret (never logged: `Debug` leaves it out).
    pub secret: String,
    /// The event type.
    pub kind: String,
    /// The event id.
    pub event_id: String,
    /// The exact body to send.
    pub body: String,
    /// Where it is.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// Unix milliseconds of the next attempt.
    pub next_attempt_ms: i64,
    /// The last attempt's HTTP status, if it got one.
    pub last_status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// Unix seconds it was queued at.
    pub created_at: i64,
}

impl std::fmt::Debug for WebhookDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookDelivery")
            .field("id", &self.id)
            .field("webhook_id", &self.webhook_id)
            .field("kind", &self.kind)
            .field("event_id", &self.event_id)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// The outcome of one attempt, saved by the replica holding the delivery's lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The delivery.
    pub id: u64,
    /// Who claimed it (see [`crate::Store::claim_webhook_deliveries`]).
    pub holder: String,
    /// `Delivered`, `Failed` (gave up), or `Pending` to try again at `next_attempt_ms`.
    pub state: DeliveryState,
    /// Attempts made, this one included.
    pub attempts: u32,
    /// When to try again (with `Pending`).
    pub next_attempt_ms: i64,
    /// The HTTP status, if the receiver answered.
    pub status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// The attempt's audit entry, appended in the same transaction.
    pub audit: AuditEvent,
}
