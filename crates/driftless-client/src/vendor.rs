//! The vendor API, authenticated with the operator token.

use driftless_wire::api::*;
use driftless_wire::{Digest, Envelope};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ClientError;
use crate::http::Http;

mod principals;
mod webhooks;

/// A client for the vendor API.
#[derive(Clone, Debug)]
pub struct VendorClient {
    http: Http,
    token: String,
}

/// The largest SBOM a vendor downloads (the control plane refuses larger ones).
const SBOM_ANSWER_CAP: usize = 16 << 20;

impl VendorClient {
    /// A client for the control plane at `base` with the operator `token`.
    pub fn new(base: &str, token: &str) -> Result<Self, ClientError> {
        Ok(VendorClient {
            http: Http::new(base)?,
            token: token.to_string(),
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self.http.url(path);
        let req = self.http.client().get(&url).bearer_auth(&self.token);
        self.http.send(req, &url).await?.json()
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let url = self.http.url(path);
        let req = self
            .http
            .client()
            .post(&url)
            .bearer_auth(&self.token)
            .json(body);
        self.http.send(req, &url).await?.json()
    }

    async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let url = self.http.url(path);
        let req = self
            .http
            .client()
            .put(&url)
            .bearer_auth(&self.token)
            .json(body);
        self.http.send(req, &url).await?.json()
    }

    /// A `GET` whose answer is bytes, not JSON (at most the SBOM size cap).
    async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let url = self.http.url(path);
        let req = self.http.client().get(&url).bearer_auth(&self.token);
        let answer = self.http.send_capped(req, &url, SBOM_ANSWER_CAP).await?;
        if !answer.status.is_success() {
            return Err(answer.error());
        }
        Ok(answer.body)
    }

    async fn post_empty(&self, path: &str) -> Result<(), ClientError> {
        let url = self.http.url(path);
        let req = self.http.client().post(&url).bearer_auth(&self.token);
        self.http.send(req, &url).await?.ok()
    }

    /// `GET /v1/info`.
    pub async fn info(&self) -> Result<ServerInfo, ClientError> {
        self.get("/v1/info").await
    }
    /// Root version `version` (public).
    pub async fn root(&self, version: u64) -> Result<Envelope, ClientError> {
        self.get(&format!("/v1/trust/root/{version}")).await
    }
    /// Creates an app.
    pub async fn create_app(&self, name: &str) -> Result<AppInfo, ClientError> {
        self.post("/v1/apps", &CreateApp { name: name.into() })
            .await
    }
    /// Lists apps with their channels.
    pub async fn list_apps(&self) -> Result<Vec<AppInfo>, ClientError> {
        self.get("/v1/apps").await
    }
    /// Creates a channel.
    pub async fn create_channel(&self, app: &str, name: &str) -> Result<ChannelInfo, ClientError> {
        self.post(
            &format!("/v1/apps/{app}/channels"),
            &CreateChannel { name: name.into() },
        )
        .await
    }
    /// Points a channel at a release.
    pub async fn promote(
        &self,
        app: &str,
        channel: &str,
        version: &str,
    ) -> Result<ChannelInfo, ClientError> {
        let req = Promote {
            version: version.into(),
            override_gate: None,
        };
        self.promote_with(app, channel, &req).await
    }
    /// Points a channel at a release, with every option of the request.
    pub async fn promote_with(
        &self,
        app: &str,
        channel: &str,
        req: &Promote,
    ) -> Result<ChannelInfo, ClientError> {
        self.post(&format!("/v1/apps/{app}/channels/{channel}/promote"), req)
            .await
    }
    /// The channel's promotion policy (the empty policy when none is set).
    pub async fn channel_policy(
        &self,
        app: &str,
        channel: &str,
    ) -> Result<serde_json::Value, ClientError> {
        self.get(&format!("/v1/apps/{app}/channels/{channel}/policy"))
            .await
    }
    /// Replaces the channel's promotion policy.
    pub async fn set_channel_policy(
        &self,
        app: &str,
        channel: &str,
        policy: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        self.put(&format!("/v1/apps/{app}/channels/{channel}/policy"), policy)
            .await
    }
    /// The SBOM of `service` in release `version` of `app`, as stored.
    pub async fn release_sbom(
        &self,
        app: &str,
        version: &str,
        service: &str,
    ) -> Result<Vec<u8>, ClientError> {
        self.get_bytes(&format!(
            "/v1/apps/{app}/releases/{version}/sboms/{service}"
        ))
        .await
    }
    /// Customers and installs running a release affected by `advisory`.
    pub async fn exposure(&self, advisory: &str) -> Result<serde_json::Value, ClientError> {
        self.get(&format!("/v1/exposure/{advisory}")).await
    }
    /// Uploads a signed release document.
    pub async fn upload_release(
        &self,
        app: &str,
        envelope: &Envelope,
    ) -> Result<ReleaseInfo, ClientError> {
        self.post(
            &format!("/v1/apps/{app}/releases"),
            &UploadRelease {
                envelope: envelope.clone(),
            },
        )
        .await
    }
    /// Uploads an artifact (a CLI binary) under its digest; the server checks it.
    pub async fn upload_artifact(
        &self,
        digest: &Digest,
        bytes: Vec<u8>,
    ) -> Result<ArtifactInfo, ClientError> {
        let url = self.http.url(&format!("/v1/artifacts/{digest}"));
        let req = self
            .http
            .client()
            .put(&url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .timeout(crate::ARTIFACT_TIMEOUT)
            .body(bytes);
        self.http.send(req, &url).await?.json()
    }
    /// The support bundles install `install` uploaded, newest first.
    pub async fn list_support_bundles(
        &self,
        install: &str,
    ) -> Result<Vec<SupportBundleInfo>, ClientError> {
        self.get(&format!("/v1/installs/{install}/support-bundles"))
            .await
    }
    /// Support bundle `id` of install `install`: its bytes, at most `cap`.
    pub async fn support_bundle(
        &self,
        install: &str,
        id: u64,
        cap: usize,
    ) -> Result<Vec<u8>, ClientError> {
        let url = self
            .http
            .url(&format!("/v1/installs/{install}/support-bundles/{id}"));
        let req = self
            .http
            .client()
            .get(&url)
            .bearer_auth(&self.token)
            .timeout(crate::ARTIFACT_TIMEOUT);
        let answer = self.http.send_capped(req, &url, cap).await?;
        if !answer.status.is_success() {
            return Err(answer.error());
        }
        Ok(answer.body)
    }
    /// Lists an app's releases, highest counter first.
    pub async fn list_releases(&self, app: &str) -> Result<Vec<ReleaseInfo>, ClientError> {
        self.get(&format!("/v1/apps/{app}/releases")).await
    }
    /// One release of `app` with its signed release document.
    pub async fn release(&self, app: &str, version: &str) -> Result<ReleaseDetail, ClientError> {
        self.get(&format!("/v1/apps/{app}/releases/{version}"))
            .await
    }
    /// A push token for `repositories` of release `release_counter` of `app`.
    pub async fn push_token(
        &self,
        app: &str,
        release_counter: u64,
        repositories: &[String],
    ) -> Result<TokenResponse, ClientError> {
        self.post(
            &format!("/v1/apps/{app}/push-token"),
            &PushTokenRequest {
                release_counter,
                repositories: repositories.to_vec(),
            },
        )
        .await
    }
    /// Creates a customer.
    pub async fn create_customer(&self, name: &str) -> Result<CustomerInfo, ClientError> {
        self.post("/v1/customers", &CreateCustomer { name: name.into() })
            .await
    }
    /// Lists customers.
    pub async fn list_customers(&self) -> Result<Vec<CustomerInfo>, ClientError> {
        self.get("/v1/customers").await
    }
    /// Creates a license; the answer carries the key, shown once.
    pub async fn create_license(
        &self,
        customer: &str,
        app: &str,
        channel: &str,
        terms: &LicenseTermsInfo,
    ) -> Result<LicenseInfo, ClientError> {
        self.post(
            "/v1/licenses",
            &CreateLicense {
                customer: customer.into(),
                app: app.into(),
                channel: channel.into(),
                terms: terms.clone(),
            },
        )
        .await
    }
    /// A director-signed assignment of `version` for the air-gapped installs of license
    /// `id`, good until `expires` (Unix seconds).
    pub async fn bundle_assignment(
        &self,
        id: &str,
        version: &str,
        expires: i64,
    ) -> Result<driftless_wire::airgap::BundleAssignmentResponse, ClientError> {
        self.post(
            &format!("/v1/licenses/{id}/bundle-assignment"),
            &driftless_wire::airgap::BundleAssignmentRequest {
                version: version.into(),
                expires,
            },
        )
        .await
    }
    /// A registry token that pulls `repositories` (any release's), from the control
    /// plane's token endpoint with the operator's credential.
    pub async fn registry_pull_token(
        &self,
        repositories: &[String],
    ) -> Result<String, ClientError> {
        let url = self.http.url("/v1/registry/token");
        let scopes: Vec<(&str, String)> = repositories
            .iter()
            .map(|r| ("scope", format!("repository:{r}:pull")))
            .collect();
        let req = self
            .http
            .client()
            .get(&url)
            .basic_auth("operator", Some(&self.token))
            .query(&scopes);
        let answer: serde_json::Value = self.http.send(req, &url).await?.json()?;
        match answer["token"].as_str() {
            Some(token) if !token.is_empty() => Ok(token.to_string()),
            _ => Err(ClientError::Malformed {
                url,
                reason: "the answer carries no registry token".into(),
            }),
        }
    }
    /// Imports a status receipt an air-gapped host wrote.
    pub async fn import_receipt(
        &self,
        receipt: &driftless_wire::Envelope,
    ) -> Result<driftless_wire::airgap::ReceiptImported, ClientError> {
        self.post("/v1/receipts", receipt).await
    }

    /// One license with its terms.
    pub async fn get_license(&self, id: &str) -> Result<LicenseDetail, ClientError> {
        self.get(&format!("/v1/licenses/{id}")).await
    }
    /// Replaces a license's terms.
    pub async fn set_license_terms(
        &self,
        id: &str,
        terms: &LicenseTermsInfo,
    ) -> Result<LicenseDetail, ClientError> {
        self.post(&format!("/v1/licenses/{id}/terms"), terms).await
    }
    /// Lists licenses (without keys).
    pub async fn list_licenses(&self) -> Result<Vec<LicenseInfo>, ClientError> {
        self.get("/v1/licenses").await
    }
    /// Revokes a license and its installs.
    pub async fn revoke_license(&self, id: &str) -> Result<(), ClientError> {
        self.post_empty(&format!("/v1/licenses/{id}/revoke")).await
    }
    /// Revokes one install.
    pub async fn revoke_install(&self, id: &str) -> Result<(), ClientError> {
        self.post_empty(&format!("/v1/installs/{id}/revoke")).await
    }
    /// The fleet, optionally of one app, every page.
    pub async fn list_installs(&self, app: Option<&str>) -> Result<Vec<InstallInfo>, ClientError> {
        self.list_installs_showing(app, "active").await
    }
    /// The fleet, optionally of one app, with `show` = `active` (what
    /// [`VendorClient::list_installs`] lists), `all` or `uninstalled`: every page.
    pub async fn list_installs_showing(
        &self,
        app: Option<&str>,
        show: &str,
    ) -> Result<Vec<InstallInfo>, ClientError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .list_installs_page(app, show, cursor.as_deref(), None)
                .await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }
    /// One page of the fleet (`GET /v1/installs`): `limit` installs (the server's
    /// default when `None`) after `cursor` (from the start when `None`).
    pub async fn list_installs_page(
        &self,
        app: Option<&str>,
        show: &str,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ListPage<InstallInfo>, ClientError> {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(app) = app {
            query.append_pair("app", app);
        }
        query.append_pair("show", show);
        self.get_page("/v1/installs", query, cursor, limit).await
    }
    /// The fleet's counts per app, channel, version, status and reason
    /// (`GET /v1/fleet/summary`), as the control plane sent them.
    pub async fn fleet_summary(&self, app: Option<&str>) -> Result<serde_json::Value, ClientError> {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(app) = app {
            query.append_pair("app", app);
        }
        self.get(&format!("/v1/fleet/summary?{}", query.finish()))
            .await
    }
    /// One page of a paged list at `path` with `query` and the cursor and limit added.
    async fn get_page<T: DeserializeOwned>(
        &self,
        path: &str,
        mut query: form_urlencoded::Serializer<'_, String>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ListPage<T>, ClientError> {
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
        if let Some(limit) = limit {
            query.append_pair("limit", &limit.to_string());
        }
        let url = self.http.url(&format!("{path}?{}", query.finish()));
        let req = self.http.client().get(&url).bearer_auth(&self.token);
        let answer = self.http.send(req, &url).await?;
        let next_cursor = answer
            .headers
            .get(NEXT_CURSOR_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(ListPage {
            items: answer.json()?,
            next_cursor,
        })
    }
    /// Starts a staged rollout.
    pub async fn start_rollout(
        &self,
        app: &str,
        channel: &str,
        req: &StartRollout,
    ) -> Result<RolloutInfo, ClientError> {
        self.post(&format!("/v1/apps/{app}/channels/{channel}/rollouts"), req)
            .await
    }
    /// The app's rollouts, newest first.
    pub async fn list_rollouts(&self, app: &str) -> Result<Vec<RolloutInfo>, ClientError> {
        self.get(&format!("/v1/apps/{app}/rollouts")).await
    }
    /// `pause`, `resume`, `advance` or `abort` the channel's active rollout.
    pub async fn rollout_action(
        &self,
        app: &str,
        channel: &str,
        action: &str,
    ) -> Result<RolloutInfo, ClientError> {
        self.post(
            &format!("/v1/apps/{app}/channels/{channel}/rollout/{action}"),
            &serde_json::json!({}),
        )
        .await
    }
    /// Marks a release active, deprecated or yanked; says which channels' hosts will
    /// refuse the move back a yank makes.
    pub async fn set_release_state(
        &self,
        app: &str,
        version: &str,
        state: &str,
    ) -> Result<ReleaseStateChanged, ClientError> {
        let url = self
            .http
            .url(&format!("/v1/apps/{app}/releases/{version}/state"));
        let req = self
            .http
            .client()
            .post(&url)
            .bearer_auth(&self.token)
            .json(&SetReleaseState {
                state: state.into(),
            });
        self.http.send(req, &url).await?.json()
    }
    /// Moves an install to another channel.
    pub async fn move_install(&self, id: &str, channel: &str) -> Result<(), ClientError> {
        let url = self.http.url(&format!("/v1/installs/{id}/move"));
        let req = self
            .http
            .client()
            .post(&url)
            .bearer_auth(&self.token)
            .json(&MoveInstall {
                channel: channel.into(),
            });
        self.http.send(req, &url).await?.ok()
    }
    /// The newest audit entries.
    pub async fn audit(&self, limit: u32) -> Result<Vec<serde_json::Value>, ClientError> {
        Ok(self.audit_page(Some(limit), None).await?.items)
    }
    /// One page of the audit log, newest first: `limit` entries (the server's default
    /// when `None`) older than `cursor` (the newest when `None`).
    pub async fn audit_page(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<ListPage<serde_json::Value>, ClientError> {
        let query = form_urlencoded::Serializer::new(String::new());
        self.get_page("/v1/audit", query, cursor, limit).await
    }
    /// The audit entries numbered `after + 1` to `after + limit`, oldest first (fewer
    /// where entries are missing).
    pub async fn audit_after(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, ClientError> {
        self.get(&format!("/v1/audit?after={after}&limit={limit}"))
            .await
    }
    /// The newest signed checkpoint of the audit log; with `sign_now`, the control
    /// plane first signs one of the log's head if the newest is older.
    pub async fn audit_checkpoint(&self, sign_now: bool) -> Result<Envelope, ClientError> {
        if sign_now {
            self.post("/v1/audit/checkpoint", &serde_json::json!({}))
                .await
        } else {
            self.get("/v1/audit/checkpoint").await
        }
    }
}

/// The response header in which a paged list names its next page.
pub const NEXT_CURSOR_HEADER: &str = "driftless-next-cursor";

/// One page of a paged list.
#[derive(Clone, Debug)]
pub struct ListPage<T> {
    /// The page's items.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}
