//! The vendor API's webhooks: register, list, remove, and recent deliveries.

use driftless_wire::webhook::{CreateWebhook, DeliveryInfo, WebhookCreated, WebhookInfo};

use super::VendorClient;
use crate::error::ClientError;

impl VendorClient {
    /// `POST /v1/apps/{app}/webhooks`: the answer carries the secret, shown once.
    pub async fn create_webhook(
        &self,
        app: &str,
        req: &CreateWebhook,
    ) -> Result<WebhookCreated, ClientError> {
        self.post(&format!("/v1/apps/{app}/webhooks"), req).await
    }

    /// `GET /v1/apps/{app}/webhooks`.
    pub async fn list_webhooks(&self, app: &str) -> Result<Vec<WebhookInfo>, ClientError> {
        self.get(&format!("/v1/apps/{app}/webhooks")).await
    }

    /// `DELETE /v1/apps/{app}/webhooks/{id}`.
    pub async fn remove_webhook(&self, app: &str, id: u64) -> Result<(), ClientError> {
        let url = self.http.url(&format!("/v1/apps/{app}/webhooks/{id}"));
        let req = self.http.client().delete(&url).bearer_auth(&self.token);
        self.http.send(req, &url).await?.ok()
    }

    /// `GET /v1/apps/{app}/webhook-deliveries`: the newest `limit`, newest first.
    pub async fn webhook_deliveries(
        &self,
        app: &str,
        limit: u32,
    ) -> Result<Vec<DeliveryInfo>, ClientError> {
        self.get(&format!("/v1/apps/{app}/webhook-deliveries?limit={limit}"))
            .await
    }
}
