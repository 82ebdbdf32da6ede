//! Webhooks as the vendor API sees them: register a URL for an app's events (the
//! answer shows the signing secret, once), list and remove them, and list recent
//! deliveries with their outcome. Every change is audited; the secret never is.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use driftless_store::{Applied, AuditedChange, NewWebhook, Webhook, WebhookDelivery, ASSIGNED_ID};
use driftless_wire::webhook::{
    new_secret, CreateWebhook, DeliveryInfo, WebhookCreated, WebhookInfo, EVENT_TYPES,
};
use serde::Deserialize;

use super::audit;
use super::input::parse_json;
use super::lookup::require_app;
use crate::error::ApiError;
use crate::now;
use crate::state::AppState;

/// The longest URL accepted.
const MAX_URL_LEN: usize = 2048;

fn info(h: &Webhook) -> WebhookInfo {
    WebhookInfo {
        id: h.id,
        app: h.app.clone(),
        url: h.url.clone(),
        events: h.events.clone(),
        created_at: h.created_at,
    }
}

fn delivery_info(d: &WebhookDelivery) -> DeliveryInfo {
    DeliveryInfo {
        id: d.id,
        webhook_id: d.webhook_id,
        event_id: d.event_id.clone(),
        event: d.kind.clone(),
        state: d.state.name().to_string(),
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        next_attempt_ms: d.next_attempt_ms,
        created_at: d.created_at,
    }
}

/// Refuses a URL that is not an absolute `http(s)` URL with a host.
fn check_url(url: &str) -> Result<reqwest::Url, ApiError> {
    let bad = |why: &str| {
        ApiError::bad_request(format!("webhook URL `{url}` {why}")).with_hint(
            "give an absolute https:// URL (http:// for a receiver on a private network)",
        )
    };
    if url.len() > MAX_URL_LEN {
        return Err(bad(&format!("is longer than {MAX_URL_LEN} characters")));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(bad("is not http:// or https://"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(parsed)
}

/// Refuses an event type that is not one of [`EVENT_TYPES`]; sorts and dedups them.
fn check_events(mut events: Vec<String>) -> Result<Vec<String>, ApiError> {
    if let Some(bad) = events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(
            ApiError::bad_request(format!("unknown webhook event type `{bad}`"))
                .with_hint(format!("use one or more of: {}", EVENT_TYPES.join(", "))),
        );
    }
    events.sort();
    events.dedup();
    Ok(events)
}

/// `POST /v1/apps/{app}/webhooks`: registers a URL and answers `201` with the secret.
pub async fn create(
    State(state): State<AppState>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    let req: CreateWebhook = parse_json(&body, "webhook")?;
    let url = check_url(&req.url)?;
    let events = check_events(req.events)?;
    require_app(&state, &app).await?;
    let secret = new_secret();
    // The host only: a receiver's path may carry a credential of its own.
    let detail = serde_json::json!({
        "host": url.host_str(),
        "events": events,
    });
    let change = AuditedChange::CreateWebhook(NewWebhook {
        app: app.clone(),
        url: req.url,
        events,
        secret: secret.clone(),
        created_at: now(),
    });
    let subject = format!("{app}/webhooks/{ASSIGNED_ID}");
    let Applied::Webhook(hook) =
        audit::apply(&state, change, "webhook.add", &subject, detail).await?
    else {
        return Err(ApiError::internal(
            "registering a webhook returned no webhook",
        ));
    };
    let webhook = info(&hook);
    Ok((
        StatusCode::CREATED,
        Json(WebhookCreated { webhook, secret }),
    ))
}

/// `GET /v1/apps/{app}/webhooks`: the app's webhooks, without their secrets.
pub async fn list(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Vec<WebhookInfo>>, ApiError> {
    require_app(&state, &app).await?;
    let hooks = state.store.list_webhooks(Some(&app)).await?;
    Ok(Json(hooks.iter().map(info).collect()))
}

/// `DELETE /v1/apps/{app}/webhooks/{id}`: removes it and its queued deliveries.
pub async fn remove(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, u64)>,
) -> Result<StatusCode, ApiError> {
    require_app(&state, &app).await?;
    let subject = format!("{app}/webhooks/{id}");
    let change = AuditedChange::DeleteWebhook {
        app: app.clone(),
        id,
    };
    let applied = audit::apply(
        &state,
        change,
        "webhook.remove",
        &subject,
        serde_json::json!({}),
    );
    if !applied.await?.happened() {
        return Err(ApiError::not_found(
            "unknown_webhook",
            format!("app `{app}` has no webhook {id}"),
        )
        .with_hint(format!(
            "`driftless-vendor webhook list --app {app}` lists them"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /v1/apps/{app}/webhook-deliveries`.
#[derive(Deserialize)]
pub struct DeliveriesQuery {
    /// How many, newest first (default 50, at most 1000).
    limit: Option<u32>,
}

/// `GET /v1/apps/{app}/webhook-deliveries`: the newest deliveries and their outcome.
pub async fn deliveries(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<Vec<DeliveryInfo>>, ApiError> {
    require_app(&state, &app).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let found = state.store.list_webhook_deliveries(&app, limit).await?;
    Ok(Json(found.iter().map(delivery_info).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_with_a_host_are_accepted() {
        assert!(check_url("https://hooks.example.com/driftless").is_ok());
        assert!(check_url("http://127.0.0.1:9000/in").is_ok());
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "/relative",
            "https://",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    #[test]
    fn unknown_event_types_are_refused() {
        assert!(check_events(vec!["rollout.exploded".into()]).is_err());
        let ok = check_events(vec![
            "rollout.halted".into(),
            "release.yanked".into(),
            "rollout.halted".into(),
        ]);
        assert_eq!(
            ok.ok(),
            Some(vec![
                "release.yanked".to_string(),
                "rollout.halted".to_string()
            ])
        );
    }
}
