//! The install API: registration, the root chain, and the signed requests (check-in,
//! check-in session, artifact download, registry login, registry token renewal). A
//! check-in is signed, or MACed with a check-in session's key.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_wire::api::{ServerInfo, SupportBundleInfo};
use driftless_wire::audit_checkpoint::{WitnessRequest, WitnessResponse};
use driftless_wire::checkin::{
    request_signing_input, CheckinRequest, CheckinResponse, RegisterRequest, RegisterResponse,
    RegistryLoginResponse, RegistryTokenResponse, UninstallRequest, INSTALL_HEADER,
    SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use driftless_wire::session::{
    SessionKey, SessionRequest, SessionResponse, MAC_HEADER, SESSION_HEADER,
};
use driftless_wire::{Digest, Envelope};
use ed25519_dalek::{Signer as _, SigningKey};
use reqwest::StatusCode;

use crate::error::ClientError;
use crate::http::Http;

/// A client for the install API.
#[derive(Clone, Debug)]
pub struct InstallClient {
    http: Http,
}

/// What a check-in returned.
#[derive(Debug)]
pub enum CheckinOutcome {
    /// `304`: the held assignment is current.
    NotModified {
        /// The newest root version the server has.
        root_version: Option<u64>,
        /// The tree size of the server's newest audit checkpoint, if it signs them.
        audit_checkpoint_size: Option<u64>,
    },
    /// `200`: a (possibly new) assignment, with its ETag.
    Updated {
        /// The body.
        response: Box<CheckinResponse>,
        /// The assignment's ETag, to send next time.
        etag: Option<String>,
        /// The newest root version the server has.
        root_version: Option<u64>,
        /// The tree size of the server's newest audit checkpoint, if it signs them.
        audit_checkpoint_size: Option<u64>,
    },
    /// `429`/`503`: try again after this many seconds.
    RetryAfter(u64),
}

/// How a check-in is authenticated.
#[derive(Clone, Copy, Debug)]
pub enum CheckinAuth<'a> {
    /// Signed with the install's key (every control plane accepts it).
    Signed(&'a SigningKey),
    /// MACed with a check-in session's key.
    Session {
        /// The session's id.
        id: &'a str,
        /// Its key.
        key: &'a SessionKey,
    },
}

impl InstallClient {
    /// A client for the control plane at `base`.
    pub fn new(base: &str) -> Result<Self, ClientError> {
        Ok(InstallClient {
            http: Http::new(base)?,
        })
    }

    /// The same client, its requests in trace `trace` (one trace per command run).
    pub fn with_trace(self, trace: driftless_wire::trace_context::TraceId) -> Self {
        InstallClient {
            http: self.http.with_trace(trace),
        }
    }

    /// The trace this client's requests belong to.
    pub fn trace_id(&self) -> driftless_wire::trace_context::TraceId {
        self.http.trace_id()
    }

    /// Registers this host's key with a license key.
    pub async fn register(&self, req: &RegisterRequest) -> Result<RegisterResponse, ClientError> {
        let url = self.http.url("/v1/installs");
        let r = self.http.client().post(&url).json(req);
        self.http.send(r, &url).await?.json()
    }

    /// `GET /v1/info`: the control plane's public settings.
    pub async fn info(&self) -> Result<ServerInfo, ClientError> {
        let url = self.http.url("/v1/info");
        let r = self.http.client().get(&url);
        self.http.send(r, &url).await?.json()
    }

    /// Fetches root version `version`, refusing one larger than the root size cap.
    pub async fn root(&self, version: u64) -> Result<Envelope, ClientError> {
        let url = self.http.url(&format!("/v1/trust/root/{version}"));
        let r = self.http.client().get(&url);
        let answer = self.http.send(r, &url).await?;
        if answer.body.len() > driftless_wire::checkin::MAX_ROOT_BYTES {
            return Err(ClientError::TooLarge {
                url,
                cap: driftless_wire::checkin::MAX_ROOT_BYTES,
            });
        }
        answer.json()
    }

    /// One signed check-in; `etag` is the held assignment's, to get `304` when current.
    /// `signed_at_ms` must be newer than any time this install signed before (the
    /// control plane refuses a replay).
    pub async fn checkin(
        &self,
        install_id: &str,
        key: &SigningKey,
        req: &CheckinRequest,
        etag: Option<&str>,
        signed_at_ms: i64,
    ) -> Result<CheckinOutcome, ClientError> {
        self.checkin_with(
            install_id,
            CheckinAuth::Signed(key),
            req,
            etag,
            signed_at_ms,
        )
        .await
    }

    /// One check-in authenticated by `auth` (see [`InstallClient::checkin`]). With a
    /// session the control plane may answer `401` code
    /// [`driftless_wire::session::SESSION_EXPIRED_CODE`]: open a new one and retry.
    pub async fn checkin_with(
        &self,
        install_id: &str,
        auth: CheckinAuth<'_>,
        req: &CheckinRequest,
        etag: Option<&str>,
        signed_at_ms: i64,
    ) -> Result<CheckinOutcome, ClientError> {
        let path = format!("/v1/installs/{install_id}/checkin");
        let (mut r, url) = match auth {
            CheckinAuth::Signed(key) => self.signed_post(&path, key, signed_at_ms, Some(req))?,
            CheckinAuth::Session { id, key } => {
                let url = self.http.url(&path);
                let body = serde_json::to_vec(req).map_err(|e| ClientError::Malformed {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
                let mac = key.mac("POST", &path, signed_at_ms, &body);
                let r = self
                    .http
                    .client()
                    .post(&url)
                    .header(TIMESTAMP_HEADER, signed_at_ms.to_string())
                    .header(SESSION_HEADER, id)
                    .header(MAC_HEADER, B64.encode(mac))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body);
                (r, url)
            }
        };
        if let Some(tag) = etag {
            r = r.header(reqwest::header::IF_NONE_MATCH, format!("\"{tag}\""));
        }
        let answer = self.http.send(r, &url).await?;
        let number = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
        };
        let root_version = number(driftless_wire::checkin::ROOT_VERSION_HEADER);
        let audit_checkpoint_size = number(driftless_wire::checkin::AUDIT_CHECKPOINT_HEADER);
        match answer.status {
            StatusCode::NOT_MODIFIED => Ok(CheckinOutcome::NotModified {
                root_version,
                audit_checkpoint_size,
            }),
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                let secs = answer
                    .headers
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(30);
                Ok(CheckinOutcome::RetryAfter(secs))
            }
            _ => {
                let etag = answer
                    .headers
                    .get(reqwest::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.trim_matches('"').to_string());
                let response = answer.json::<CheckinResponse>()?;
                Ok(CheckinOutcome::Updated {
                    response: Box::new(response),
                    etag,
                    root_version,
                    audit_checkpoint_size,
                })
            }
        }
    }

    /// Downloads artifact `digest` with a request signed at `signed_at_ms` (see
    /// [`InstallClient::checkin`]), refusing more than `max_bytes` (the size the signed
    /// release document declares). The caller checks the digest.
    pub async fn download_artifact(
        &self,
        install_id: &str,
        key: &SigningKey,
        digest: &Digest,
        max_bytes: u64,
        signed_at_ms: i64,
    ) -> Result<Vec<u8>, ClientError> {
        let path = format!("/v1/artifacts/{digest}");
        let url = self.http.url(&path);
        let sig = key.sign(&request_signing_input("GET", &path, signed_at_ms, b""));
        let r = self
            .http
            .client()
            .get(&url)
            .header(INSTALL_HEADER, install_id)
            .header(TIMESTAMP_HEADER, signed_at_ms.to_string())
            .header(SIGNATURE_HEADER, B64.encode(sig.to_bytes()))
            .timeout(crate::ARTIFACT_TIMEOUT);
        let cap = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        // Room for an error body even when the artifact is tiny.
        let answer = self.http.send_capped(r, &url, cap.max(64 * 1024)).await?;
        if !answer.status.is_success() {
            return Err(answer.error());
        }
        if answer.body.len() > cap {
            return Err(ClientError::TooLarge { url, cap });
        }
        Ok(answer.body)
    }

    /// Opens a check-in session with a request signed at `signed_at_ms` (see
    /// [`InstallClient::checkin`]); `None` when the control plane predates sessions
    /// (it has no such route), so check-ins stay signed.
    pub async fn open_session(
        &self,
        install_id: &str,
        key: &SigningKey,
        req: &SessionRequest,
        signed_at_ms: i64,
    ) -> Result<Option<SessionResponse>, ClientError> {
        let path = format!("/v1/installs/{install_id}/session");
        let (r, url) = self.signed_post(&path, key, signed_at_ms, Some(req))?;
        let answer = self.http.send(r, &url).await?;
        // A missing route answers a bare 404; an unknown install a 404 with its code.
        if answer.status == StatusCode::NOT_FOUND && answer.error().code().is_none() {
            return Ok(None);
        }
        answer.json().map(Some)
    }

    /// Asks, with a request signed at `signed_at_ms` (see [`InstallClient::checkin`]),
    /// for a short-lived `docker login` credential.
    pub async fn registry_login(
        &self,
        install_id: &str,
        key: &SigningKey,
        signed_at_ms: i64,
    ) -> Result<RegistryLoginResponse, ClientError> {
        let path = format!("/v1/installs/{install_id}/registry-login");
        let (r, url) = self.signed_post(&path, key, signed_at_ms, None::<&()>)?;
        self.http.send(r, &url).await?.json()
    }

    /// Asks, with a request signed at `signed_at_ms` (see [`InstallClient::checkin`]),
    /// for a fresh registry token for the release this install is assigned now.
    pub async fn registry_token(
        &self,
        install_id: &str,
        key: &SigningKey,
        signed_at_ms: i64,
    ) -> Result<RegistryTokenResponse, ClientError> {
        let path = format!("/v1/installs/{install_id}/registry-token");
        let (r, url) = self.signed_post(&path, key, signed_at_ms, None::<&()>)?;
        self.http.send(r, &url).await?.json()
    }

    /// Asks, with a request signed at `signed_at_ms` (see [`InstallClient::checkin`]),
    /// for the newest audit checkpoint and the hash the log holds at tree size `since`.
    pub async fn audit_checkpoint(
        &self,
        install_id: &str,
        key: &SigningKey,
        since: Option<u64>,
        signed_at_ms: i64,
    ) -> Result<WitnessResponse, ClientError> {
        let path = format!("/v1/installs/{install_id}/audit-checkpoint");
        let req = WitnessRequest { since };
        let (r, url) = self.signed_post(&path, key, signed_at_ms, Some(&req))?;
        self.http.send(r, &url).await?.json()
    }

    /// Tells the control plane, with a request signed at `signed_at_ms` (see
    /// [`InstallClient::checkin`]), that this install was uninstalled.
    pub async fn uninstall(
        &self,
        install_id: &str,
        key: &SigningKey,
        req: &UninstallRequest,
        signed_at_ms: i64,
    ) -> Result<(), ClientError> {
        let path = format!("/v1/installs/{install_id}/uninstall");
        let (r, url) = self.signed_post(&path, key, signed_at_ms, Some(req))?;
        self.http.send(r, &url).await?.ok()
    }

    /// Uploads a support bundle (a `tar.gz`) with a request signed at `signed_at_ms`
    /// (see [`InstallClient::checkin`]); the control plane refuses one over its cap
    /// with `413 support_bundle_too_large`.
    pub async fn upload_support_bundle(
        &self,
        install_id: &str,
        key: &SigningKey,
        bundle: Vec<u8>,
        signed_at_ms: i64,
    ) -> Result<SupportBundleInfo, ClientError> {
        let path = format!("/v1/installs/{install_id}/support-bundles");
        let url = self.http.url(&path);
        let sig = key.sign(&request_signing_input("POST", &path, signed_at_ms, &bundle));
        let r = self
            .http
            .client()
            .post(&url)
            .header(TIMESTAMP_HEADER, signed_at_ms.to_string())
            .header(SIGNATURE_HEADER, B64.encode(sig.to_bytes()))
            .header(reqwest::header::CONTENT_TYPE, "application/gzip")
            .timeout(crate::ARTIFACT_TIMEOUT)
            .body(bundle);
        self.http.send(r, &url).await?.json()
    }

    /// A `POST` of `path` signed by the install's `key` at `signed_at_ms`, with `body`
    /// as JSON when there is one, and its URL (for errors).
    fn signed_post<T: serde::Serialize>(
        &self,
        path: &str,
        key: &SigningKey,
        signed_at_ms: i64,
        body: Option<&T>,
    ) -> Result<(reqwest::RequestBuilder, String), ClientError> {
        let url = self.http.url(path);
        let body = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Malformed {
                url: url.clone(),
                reason: e.to_string(),
            })?,
            None => Vec::new(),
        };
        let sig = key.sign(&request_signing_input("POST", path, signed_at_ms, &body));
        let mut r = self
            .http
            .client()
            .post(&url)
            .header(TIMESTAMP_HEADER, signed_at_ms.to_string())
            .header(SIGNATURE_HEADER, B64.encode(sig.to_bytes()));
        if !body.is_empty() {
            r = r
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        Ok((r, url))
    }
}
