//! Sends queued webhook deliveries: every `poll_ms` a replica claims the due ones
//! with a lease (so no other replica sends them meanwhile), POSTs each signed, and
//! saves the outcome with its audit entry: `delivered` on a 2xx answer, otherwise
//! another attempt after an exponential, jittered backoff, until `max_attempts`
//! attempts failed (`failed`). A replica that dies mid-send leaves its lease to run
//! out; another then sends the delivery again, so receivers get each event at least
//! once and drop repeats by its id.

use std::time::Duration;

use driftless_store::{AuditEvent, DeliveryAttempt, DeliveryState, WebhookDelivery};
use driftless_wire::webhook::{sign, EVENT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER};
use tokio::task::JoinHandle;

use super::{now_ms, WebhookSettings};
use crate::state::AppState;

/// What one attempt got.
struct Answer {
    status: Option<u16>,
    error: Option<String>,
}

impl Answer {
    fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The wait before attempt `attempts + 1`, after `attempts` failed ones: the base
/// doubled per failed attempt, capped, then drawn uniformly from its upper half so
/// replicas retrying after one outage do not all come back at once.
pub(crate) fn backoff_ms(
    settings: &WebhookSettings,
    attempts: u32,
    rng: &mut impl rand::Rng,
) -> u64 {
    let doublings = attempts.saturating_sub(1).min(40);
    let full = settings
        .backoff_base_ms
        .saturating_mul(1u64 << doublings)
        .min(settings.backoff_max_ms)
        .max(1);
    rng.gen_range(full / 2..=full)
}

/// Starts the sender for `state`; [`crate::serve`] runs it.
pub fn spawn(state: AppState) -> JoinHandle<()> {
    let holder = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    tokio::spawn(async move {
        let settings = state.webhooks.clone();
        let client = match http_client(&settings) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the webhook HTTP client; no webhook is sent");
                return;
            }
        };
        let mut every = tokio::time::interval(Duration::from_millis(settings.poll_ms.max(10)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = send_due(&state, &client, &holder).await {
                tracing::warn!(error = %e, "cannot claim due webhook deliveries; will retry");
            }
        }
    })
}

fn http_client(settings: &WebhookSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(settings.timeout_ms.max(1)))
        // A redirect could carry the signed event to a host nobody registered.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("driftless-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Claims the deliveries due now and sends them concurrently; returns how many.
pub(crate) async fn send_due(
    state: &AppState,
    client: &reqwest::Client,
    holder: &str,
) -> Result<usize, driftless_store::StoreError> {
    let s = &state.webhooks;
    let due = state
        .store
        .claim_webhook_deliveries(holder, now_ms(), s.lease_ms, s.batch)
        .await?;
    let n = due.len();
    let sends = due.into_iter().map(|d| send_one(state, client, holder, d));
    futures_util::future::join_all(sends).await;
    Ok(n)
}

/// One attempt of `d`, and its outcome saved.
async fn send_one(state: &AppState, client: &reqwest::Client, holder: &str, d: WebhookDelivery) {
    let answer = post(client, &d).await;
    let attempt = outcome(&state.webhooks, &d, holder, &answer);
    let label = match attempt.state {
        DeliveryState::Delivered => "delivered",
        DeliveryState::Pending => "retry",
        DeliveryState::Failed => "failed",
    };
    state.metrics.webhook_delivery(label);
    // The URL is left out of logs: some receivers carry a secret in their path.
    match state.store.finish_webhook_delivery(&attempt).await {
        Ok(true) => {
            tracing::info!(delivery = d.id, webhook = d.webhook_id, event = %d.kind, attempt = attempt.attempts, status = ?answer.status, outcome = label, "webhook attempt")
        }
        Ok(false) => tracing::warn!(
            delivery = d.id,
            "webhook delivery was claimed by another replica meanwhile, or its webhook was removed; its outcome is not saved"
        ),
        Err(e) => {
            tracing::warn!(delivery = d.id, error = %e, "cannot save a webhook attempt; it is sent again once its lease runs out")
        }
    }
}

async fn post(client: &reqwest::Client, d: &WebhookDelivery) -> Answer {
    let signature = sign(&d.secret, crate::now(), d.body.as_bytes());
    let sent = client
        .post(&d.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header(EVENT_HEADER, &d.kind)
        .header(EVENT_ID_HEADER, &d.event_id)
        .body(d.body.clone())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Answer {
            status: Some(r.status().as_u16()),
            error: None,
        },
        Ok(r) => Answer {
            status: Some(r.status().as_u16()),
            error: Some(format!("the receiver answered {}", r.status())),
        },
        Err(e) => Answer {
            status: None,
            error: Some(e.without_url().to_string()),
        },
    }
}

/// What attempt `d.attempts + 1` that got `answer` makes of `d`.
fn outcome(
    s: &WebhookSettings,
    d: &WebhookDelivery,
    holder: &str,
    answer: &Answer,
) -> DeliveryAttempt {
    let attempts = d.attempts.saturating_add(1);
    let now = now_ms();
    let (state, next_attempt_ms) = if answer.delivered() {
        (DeliveryState::Delivered, now)
    } else if attempts >= s.max_attempts.max(1) {
        (DeliveryState::Failed, now)
    } else {
        let wait = backoff_ms(s, attempts, &mut rand::thread_rng());
        (
            DeliveryState::Pending,
            now.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX)),
        )
    };
    let action = match state {
        DeliveryState::Delivered => "webhook.delivered",
        DeliveryState::Pending => "webhook.retry",
        DeliveryState::Failed => "webhook.failed",
    };
    let detail = serde_json::json!({
        "delivery": d.id,
        "webhook": d.webhook_id,
        "event": d.kind,
        "event_id": d.event_id,
        "attempt": attempts,
        "status": answer.status,
        "error": answer.error,
        "next_attempt_ms": (state == DeliveryState::Pending).then_some(next_attempt_ms),
    });
    DeliveryAttempt {
        id: d.id,
        holder: holder.to_string(),
        state,
        attempts,
        next_attempt_ms,
        status: answer.status,
        error: answer.error.clone(),
        audit: AuditEvent {
            at: crate::now(),
            actor: "system".into(),
            action: action.into(),
            subject: format!("{}/webhooks/{}", d.app, d.webhook_id),
            detail: detail.to_string(),
            request_id: String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_the_cap() {
        let s = WebhookSettings {
            backoff_base_ms: 1_000,
            backoff_max_ms: 30_000,
            ..WebhookSettings::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for (attempts, full) in [
            (1, 1_000),
            (2, 2_000),
            (3, 4_000),
            (5, 16_000),
            (6, 30_000),
            (60, 30_000),
        ] {
            for _ in 0..50 {
                let wait = backoff_ms(&s, attempts, &mut rng);
                assert!(
                    (full / 2..=full).contains(&wait),
                    "attempt {attempts}: {wait} not in {}..={full}",
                    full / 2
                );
            }
        }
        let draws: std::collections::BTreeSet<u64> =
            (0..50).map(|_| backoff_ms(&s, 3, &mut rng)).collect();
        assert!(draws.len() > 10, "the wait is jittered: {draws:?}");
    }
}
