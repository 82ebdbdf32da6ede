//! Sending a request and reading its answer under a cap. Every request carries a W3C
//! `traceparent`: the client's trace id (one per command run) and a new span id, so the
//! control plane's log lines for it can be found from the host's.

use driftless_wire::api::ErrorBody;
use driftless_wire::trace_context::{
    SpanId, TraceId, TraceParent, REQUEST_ID_HEADER, TRACEPARENT_HEADER,
};
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

use crate::error::ClientError;
use crate::MAX_RESPONSE_BYTES;

/// A base URL, a connection pool and the trace its requests belong to.
#[derive(Clone, Debug)]
pub struct Http {
    base: String,
    client: reqwest::Client,
    trace: TraceId,
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
            trace: TraceId::random(),
        })
    }

    /// The same client, its requests in trace `trace`.
    pub fn with_trace(self, trace: TraceId) -> Self {
        Http { trace, ..self }
    }

    /// The trace this client's requests belong to.
    pub fn trace_id(&self) -> TraceId {
        self.trace
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
        let span = SpanId::random();
        let req = req
            .header(
                TRACEPARENT_HEADER,
                TraceParent::new(self.trace, span).to_string(),
            )
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: url.to_string(),
                reason: transport_reason(&e),
            })?;
        let (method, path) = (req.method().clone(), req.url().path().to_string());
        let started = Instant::now();
        let sent = self.client.execute(req).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut resp = sent.map_err(|e| {
            tracing::debug!(%method, path, trace_id = %self.trace, span_id = %span, latency_ms, error = %transport_reason(&e), "control plane unreachable");
            ClientError::Unreachable {
                url: url.to_string(),
                reason: transport_reason(&e),
            }
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        tracing::debug!(
            %method,
            path,
            status = status.as_u16(),
            trace_id = %self.trace,
            span_id = %span,
            request_id = headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()),
            latency_ms,
            "control plane answered"
        );
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
