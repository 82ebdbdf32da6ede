//! Webhooks: registrations, and the delivery queue replicas claim with a lease. SQLite
//! has one writer at a time, so a claim (`BEGIN IMMEDIATE`, then one `UPDATE`) can
//! never hand a delivery to two claimers.

use driftless_store::{
    DeliveryAttempt, DeliveryState, NewWebhook, StoreError, StoreResult, Webhook, WebhookDelivery,
    WebhookEvent,
};
use sqlx::{SqliteConnection, SqlitePool};

use crate::error::{backend, from_db, to_db};

type HookRow = (i64, String, String, String, String, i64);

fn hook((id, app, url, events, secret, created_at): HookRow) -> StoreResult<Webhook> {
    Ok(Webhook {
        id: from_db(id, "webhook id")?,
        app,
        url,
        events: serde_json::from_str(&events)
            .map_err(|e| StoreError::Backend(format!("webhook {id}: events are not JSON: {e}")))?,
        secret,
        created_at,
    })
}

const HOOK_COLUMNS: &str = "id, app, url, events, secret, created_at";

pub(crate) async fn create_webhook(
    conn: &mut SqliteConnection,
    h: &NewWebhook,
) -> StoreResult<Webhook> {
    let events =
        serde_json::to_string(&h.events).map_err(|e| StoreError::Backend(e.to_string()))?;
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO webhooks (app, url, events, secret, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM apps WHERE name = ?1)
         RETURNING id",
    )
    .bind(&h.app)
    .bind(&h.url)
    .bind(&events)
    .bind(&h.secret)
    .bind(h.created_at)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    let Some((id,)) = row else {
        return Err(StoreError::Missing {
            what: format!("app `{}`", h.app),
        });
    };
    hook((
        id,
        h.app.clone(),
        h.url.clone(),
        events,
        h.secret.clone(),
        h.created_at,
    ))
}

pub(crate) async fn list_webhooks(
    pool: &SqlitePool,
    app: Option<&str>,
) -> StoreResult<Vec<Webhook>> {
    let rows: Vec<HookRow> = sqlx::query_as(&format!(
        "SELECT {HOOK_COLUMNS} FROM webhooks WHERE ?1 IS NULL OR app = ?1 ORDER BY id"
    ))
    .bind(app)
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    rows.into_iter().map(hook).collect()
}

pub(crate) async fn delete_webhook(
    conn: &mut SqliteConnection,
    app: &str,
    id: u64,
) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM webhooks WHERE app = ?1 AND id = ?2")
        .bind(app)
        .bind(to_db(id, "webhook id")?)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn enqueue_webhook_event(
    pool: &SqlitePool,
    e: &WebhookEvent,
) -> StoreResult<Option<u64>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
    if e.opens_episode {
        let opened = sqlx::query(
            "INSERT INTO webhook_episodes (app, kind, opened_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (app, kind) DO NOTHING",
        )
        .bind(&e.app)
        .bind(&e.kind)
        .bind(e.at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if opened.rows_affected() == 0 {
            return Ok(None);
        }
    }
    let queued = queue_for_hooks(&mut tx, e).await?;
    tx.commit().await.map_err(backend)?;
    Ok(Some(queued))
}

/// Inserts one delivery per webhook of the event's app that wants its type.
async fn queue_for_hooks(conn: &mut SqliteConnection, e: &WebhookEvent) -> StoreResult<u64> {
    let rows: Vec<HookRow> = sqlx::query_as(&format!(
        "SELECT {HOOK_COLUMNS} FROM webhooks WHERE app = ?1 ORDER BY id"
    ))
    .bind(&e.app)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let mut queued = 0;
    for h in rows.into_iter().map(hook) {
        let h = h?;
        if !h.wants(&e.kind) {
            continue;
        }
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, kind, event_id, body, state, attempts,
                 next_attempt_ms, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6, ?6)",
        )
        .bind(to_db(h.id, "webhook id")?)
        .bind(&e.kind)
        .bind(&e.event_id)
        .bind(&e.body)
        .bind(e.at.saturating_mul(1000))
        .bind(e.at)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        queued += 1;
    }
    Ok(queued)
}

pub(crate) async fn close_webhook_episode(
    pool: &SqlitePool,
    app: &str,
    kind: &str,
) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM webhook_episodes WHERE app = ?1 AND kind = ?2")
        .bind(app)
        .bind(kind)
        .execute(pool)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

/// A delivery joined with its webhook.
const DELIVERY_SELECT: &str = "SELECT d.id, d.webhook_id, w.app, w.url, w.secret, d.kind,
     d.event_id, d.body, d.state, d.attempts, d.next_attempt_ms, d.last_status, d.last_error,
     d.created_at
     FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id";

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    webhook_id: i64,
    app: String,
    url: String,
    secret: String,
    kind: String,
    event_id: String,
    body: String,
    state: String,
    attempts: i64,
    next_attempt_ms: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
}

impl DeliveryRow {
    fn into_delivery(self) -> StoreResult<WebhookDelivery> {
        let bad =
            |what: &str| StoreError::Backend(format!("webhook delivery {}: bad {what}", self.id));
        Ok(WebhookDelivery {
            id: from_db(self.id, "delivery id")?,
            webhook_id: from_db(self.webhook_id, "webhook id")?,
            state: DeliveryState::parse(&self.state).ok_or_else(|| bad("state"))?,
            attempts: u32::try_from(self.attempts).map_err(|_| bad("attempts"))?,
            last_status: self
                .last_status
                .map(u16::try_from)
                .transpose()
                .map_err(|_| bad("status"))?,
            app: self.app,
            url: self.url,
            secret: self.secret,
            kind: self.kind,
            event_id: self.event_id,
            body: self.body,
            next_attempt_ms: self.next_attempt_ms,
            last_error: self.last_error,
            created_at: self.created_at,
        })
    }
}

pub(crate) async fn claim_webhook_deliveries(
    pool: &SqlitePool,
    holder: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: u32,
) -> StoreResult<Vec<WebhookDelivery>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
    let ids: Vec<(i64,)> = sqlx::query_as(
        "UPDATE webhook_deliveries SET lease_holder = ?1, lease_until_ms = ?2
         WHERE id IN (SELECT id FROM webhook_deliveries
             WHERE state = 'pending' AND next_attempt_ms <= ?3
               AND (lease_until_ms IS NULL OR lease_until_ms <= ?3)
             ORDER BY next_attempt_ms, id LIMIT ?4)
         RETURNING id",
    )
    .bind(holder)
    .bind(now_ms.saturating_add(lease_ms))
    .bind(now_ms)
    .bind(i64::from(limit.max(1)))
    .fetch_all(&mut *tx)
    .await
    .map_err(backend)?;
    let mut out = Vec::with_capacity(ids.len());
    for (id,) in ids {
        let row: DeliveryRow = sqlx::query_as(&format!("{DELIVERY_SELECT} WHERE d.id = ?1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        out.push(row.into_delivery()?);
    }
    tx.commit().await.map_err(backend)?;
    Ok(out)
}

pub(crate) async fn finish_webhook_delivery(
    pool: &SqlitePool,
    a: &DeliveryAttempt,
) -> StoreResult<bool> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET state = ?1, attempts = ?2, next_attempt_ms = ?3,
             last_status = ?4, last_error = ?5, updated_at = ?6,
             lease_holder = NULL, lease_until_ms = NULL
         WHERE id = ?7 AND lease_holder = ?8 AND state = 'pending'",
    )
    .bind(a.state.name())
    .bind(i64::from(a.attempts))
    .bind(a.next_attempt_ms)
    .bind(a.status.map(i64::from))
    .bind(&a.error)
    .bind(a.audit.at)
    .bind(to_db(a.id, "delivery id")?)
    .bind(&a.holder)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    crate::audit::append_in(&mut tx, &a.audit).await?;
    tx.commit().await.map_err(backend)?;
    Ok(true)
}

pub(crate) async fn list_webhook_deliveries(
    pool: &SqlitePool,
    app: &str,
    limit: u32,
) -> StoreResult<Vec<WebhookDelivery>> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
        "{DELIVERY_SELECT} WHERE w.app = ?1 ORDER BY d.id DESC LIMIT ?2"
    ))
    .bind(app)
    .bind(i64::from(limit.max(1)))
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    rows.into_iter().map(DeliveryRow::into_delivery).collect()
}
