//! Sending a request and reading its answer under a cap.

use driftless_wire::api::ErrorBody;
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use std::time::Duration;

use crate::error::ClientError;
use crate::MAX_RESPONSE_BYTES;

/// A base URL and a connection pool.
#[derive(Clone, Debug)]
pub struct Http {
    base: String,
    client: reqwest::Client,
}

/// An answer read in full: status, headers, body.
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body bytes (at most the cap).
    pub body: Vec<u8>,
    /// The URL called.
    pub url: String,
}

impl Http {
    /// A client for the control plane at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("driftless/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: base.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Http {
            base: base.trim_end_matches('/').to_string(),
            client,
        })
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The underlying client, to build a request.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `req` and reads the answer under the cap.
    pub async fn send(&self, req: RequestBuilder, url: &str) -> Result<Answer, ClientError> {
        self.send_capped(req, url, MAX_RESPONSE_BYTES).await
    }

    /// Sends `req` and reads the answer, refusing one larger than `cap` bytes.
    pub async fn send_capped(
        &self,
        req: RequestBuilder,
        url: &str,
        cap: usize,
    ) -> Result<Answer, ClientError> {
        let mut resp = req.send().await.map_err(|e| ClientError::Unreachable {
            url: url.to_string(),
            reason: transport_reason(&e),
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| ClientError::Unreachable {
            url: url.to_string(),
            reason: transport_reason(&e),
        })? {
            if body.len() + chunk.len() > cap {
                return Err(ClientError::TooLarge {
                    url: url.to_string(),
                    cap,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body,
            url: url.to_string(),
        })
    }
}

fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused or no route".into()
    } else {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(inner) = src {
            s = format!("{s}: {inner}");
            src = inner.source();
        }
        s
    }
}

impl Answer {
    /// The error the body describes, for a non-success status.
    pub fn error(&self) -> ClientError {
        match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(b) => ClientError::Api {
                status: self.status.as_u16(),
                code: b.code,
                message: b.message,
                hint: b.hint,
            },
            Err(_) => ClientError::Malformed {
                url: self.url.clone(),
                reason: format!("HTTP {} without a JSON error body", self.status.as_u16()),
            },
        }
    }

    /// Parses a success body as `T`, or turns an error status into its error.
    pub fn json<T: DeserializeOwned>(self) -> Result<T, ClientError> {
        if !self.status.is_success() {
            return Err(self.error());
        }
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Malformed {
            url: self.url.clone(),
            reason: e.to_string(),
        })
    }

    /// Succeeds on any 2xx status, ignoring the body.
    pub fn ok(self) -> Result<(), ClientError> {
        if self.status.is_success() {
            Ok(())
        } else {
            Err(self.error())
        }
    }
}
