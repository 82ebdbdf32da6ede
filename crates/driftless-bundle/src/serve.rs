//! A read-only registry on loopback serving a verified bundle's blobs by digest, so the
//! engine pulls the release's images exactly as online (same digests, same code path)
//! and nothing but this process and the engine ever sees them.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use driftless_wire::Digest;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::reader::VerifiedBundle;

/// A running loopback registry; stops when dropped.
pub struct LoopbackRegistry {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LoopbackRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LoopbackRegistry {
    /// Serves `bundle` on 127.0.0.1, on `port` when it is free (so a host keeps the same
    /// image references from one bundle to the next), else on any free port.
    pub async fn start(bundle: VerifiedBundle, port: Option<u16>) -> std::io::Result<Self> {
        let listener = match port {
            Some(p) => match tokio::net::TcpListener::bind(("127.0.0.1", p)).await {
                Ok(l) => l,
                Err(_) => tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
            },
            None => tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
        };
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route(
                "/v2/",
                get(|| async { api_version(StatusCode::OK, Body::from("{}")) }),
            )
            .route("/v2/{*rest}", get(object).head(object))
            .with_state(Arc::new(bundle));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(LoopbackRegistry { addr, task })
    }

    /// `127.0.0.1:<port>`: the registry host to pull from.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

fn api_version(status: StatusCode, body: Body) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    r
}

/// `<repo>/manifests/<digest>` or `<repo>/blobs/<digest>`: any repository, by digest.
async fn object(
    State(bundle): State<Arc<VerifiedBundle>>,
    method: Method,
    Path(rest): Path<String>,
) -> Response {
    let mut parts = rest.rsplitn(3, '/');
    let (Some(reference), Some(kind)) = (parts.next(), parts.next()) else {
        return api_version(StatusCode::NOT_FOUND, Body::empty());
    };
    let Ok(digest) = reference.parse::<Digest>() else {
        // Tags are not served: a bundle's images are pulled by digest only.
        return api_version(StatusCode::NOT_FOUND, Body::empty());
    };
    let Some((location, entry)) = bundle.blobs.get(&digest).cloned() else {
        return api_version(StatusCode::NOT_FOUND, Body::empty());
    };
    if kind != "manifests" && kind != "blobs" {
        return api_version(StatusCode::NOT_FOUND, Body::empty());
    }
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        let (file, offset) = bundle.file_of(&location);
        match section(file, offset, entry.size).await {
            Ok(b) => b,
            Err(_) => return api_version(StatusCode::INTERNAL_SERVER_ERROR, Body::empty()),
        }
    };
    let mut r = api_version(StatusCode::OK, body);
    let h = r.headers_mut();
    let content_type = if kind == "manifests" {
        entry.media_type.as_str()
    } else {
        "application/octet-stream"
    };
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(entry.size));
    if let Ok(v) = HeaderValue::from_str(&digest.to_string()) {
        h.insert("docker-content-digest", v);
    }
    r
}

async fn section(file: &std::path::Path, offset: u64, size: u64) -> std::io::Result<Body> {
    let mut file = tokio::fs::File::open(file).await?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(size), 1 << 20);
    Ok(Body::from_stream(stream))
}
