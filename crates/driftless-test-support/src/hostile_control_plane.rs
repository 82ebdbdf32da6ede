//! Stand-ins for a control plane gone wrong, on loopback: one that answers every
//! request with malformed JSON, and a man in the middle (or a compromised control
//! plane) that forwards every request to the real one but changes each check-in
//! answer: by default one byte of the release document, or any [`Rewrite`] a test
//! gives it (e.g. another app's release under a re-signed assignment), or one byte of
//! each artifact download. A host pointed
//! at either must refuse what it is sent and keep running what it runs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tokio::sync::oneshot;

/// The largest request or answer the proxy carries (release uploads are far smaller).
const MAX_BODY: usize = 256 * 1024 * 1024;
/// The field of a release document whose first digit the proxy changes.
const TAMPERED_FIELD: &[u8] = b"\"created_at\":";

/// An axum app served on a free loopback port from its own thread; stops on drop.
struct LoopbackServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl LoopbackServer {
    fn start(app: Router) -> Result<LoopbackServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("cannot bind a loopback port for a stand-in control plane")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start a runtime for a stand-in control plane")?;
        let (shutdown, stop) = oneshot::channel::<()>();
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let served = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            // A dropped sender is a stop signal too.
                            let _ = stop.await;
                        })
                        .await
                        .map_err(anyhow::Error::from),
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = served {
                    eprintln!("stand-in control plane on {addr} stopped: {e:#}");
                }
            });
        });
        Ok(LoopbackServer {
            addr,
            shutdown: Some(shutdown),
        })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            // The server may have stopped already; then there is nothing to stop.
            let _ = tx.send(());
        }
    }
}

/// A control plane that answers every request `200` with `{not json`.
pub struct MalformedControlPlane {
    server: LoopbackServer,
}

impl MalformedControlPlane {
    /// Starts it on a free loopback port.
    pub fn start() -> Result<MalformedControlPlane> {
        let app = Router::new()
            .fallback(|| async { ([(header::CONTENT_TYPE, "application/json")], "{not json") });
        Ok(MalformedControlPlane {
            server: LoopbackServer::start(app)?,
        })
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }
}

/// How a [`TamperingProxy`] changes a check-in answer's body: the new body, or `None`
/// to pass the answer on unchanged.
pub type Rewrite = Arc<dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// A man in the middle between hosts and the control plane that changes every
/// check-in answer it can ([`tamper_with_release`] unless told otherwise).
pub struct TamperingProxy {
    server: LoopbackServer,
    tampered: Arc<AtomicUsize>,
}

/// What the proxy's handler shares.
struct Upstream {
    base: String,
    client: reqwest::Client,
    tampered: Arc<AtomicUsize>,
    rewrite: Rewrite,
    /// Which answers it rewrites, by request path.
    targets: fn(&str) -> bool,
}

fn is_checkin(path: &str) -> bool {
    path.ends_with("/checkin")
}

fn is_artifact(path: &str) -> bool {
    path.starts_with("/v1/artifacts/")
}

impl TamperingProxy {
    /// Starts a proxy on a free loopback port forwarding to `upstream` (`http://host:port`)
    /// that changes one byte of each check-in answer's release document.
    pub fn start(upstream: &str) -> Result<TamperingProxy> {
        TamperingProxy::rewriting(upstream, Arc::new(tamper_with_release))
    }

    /// Starts a proxy forwarding to `upstream` that changes each check-in answer with
    /// `rewrite`.
    pub fn rewriting(upstream: &str, rewrite: Rewrite) -> Result<TamperingProxy> {
        TamperingProxy::on(upstream, rewrite, is_checkin)
    }

    /// Starts a proxy forwarding to `upstream` that flips one byte in the middle of
    /// every artifact download (a CLI build), keeping its size: a control plane whose
    /// stored bytes were changed.
    pub fn flipping_artifacts(upstream: &str) -> Result<TamperingProxy> {
        TamperingProxy::on(upstream, Arc::new(flip_middle_byte), is_artifact)
    }

    fn on(upstream: &str, rewrite: Rewrite, targets: fn(&str) -> bool) -> Result<TamperingProxy> {
        let tampered = Arc::new(AtomicUsize::new(0));
        let state = Arc::new(Upstream {
            base: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            tampered: Arc::clone(&tampered),
            rewrite,
            targets,
        });
        let app = Router::new().fallback(forward).with_state(state);
        Ok(TamperingProxy {
            server: LoopbackServer::start(app)?,
            tampered,
        })
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// How many answers it has changed so far.
    pub fn tampered(&self) -> usize {
        self.tampered.load(Ordering::SeqCst)
    }
}

async fn forward(State(up): State<Arc<Upstream>>, req: Request) -> Response {
    match relay(&up, req).await {
        Ok(resp) => resp,
        Err(e) => (StatusCode::BAD_GATEWAY, format!("{e:#}")).into_response(),
    }
}

/// Sends `req` upstream and returns the answer, tampered when it is a check-in's.
async fn relay(up: &Upstream, req: Request) -> Result<Response> {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    let body = to_bytes(body, MAX_BODY)
        .await
        .context("reading the request")?;
    let answer = up
        .client
        .request(parts.method, format!("{}{path}", up.base))
        .headers(end_to_end(parts.headers))
        .body(body)
        .send()
        .await
        .with_context(|| format!("forwarding {path}"))?;
    let status = answer.status();
    let headers = end_to_end(answer.headers().clone());
    let mut bytes = answer.bytes().await.context("reading the answer")?.to_vec();
    if status == StatusCode::OK && (up.targets)(parts.uri.path()) {
        if let Some(changed) = (up.rewrite)(&bytes) {
            bytes = changed;
            up.tampered.fetch_add(1, Ordering::SeqCst);
        }
    }
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    Ok(resp)
}

/// `headers` without those that describe one hop (the body is re-framed per hop).
fn end_to_end(mut headers: HeaderMap) -> HeaderMap {
    for name in [
        header::HOST,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
    ] {
        headers.remove(name);
    }
    headers
}

/// `body` with its middle byte flipped; `None` when it is empty.
pub fn flip_middle_byte(body: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = body.to_vec();
    let middle = bytes.len() / 2;
    *bytes.get_mut(middle)? ^= 0xff;
    Some(bytes)
}

/// The check-in answer `body` with the first digit of the release document's
/// `created_at` changed, still a well-formed release document; `None` when the answer
/// carries no release document to change.
pub fn tamper_with_release(body: &[u8]) -> Option<Vec<u8>> {
    let mut answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    let payload = answer.get("release")?.get("payload")?.as_str()?;
    let mut bytes = B64.decode(payload).ok()?;
    let at = bytes
        .windows(TAMPERED_FIELD.len())
        .position(|w| w == TAMPERED_FIELD)?
        + TAMPERED_FIELD.len();
    let digit = bytes.get_mut(at).filter(|b| b.is_ascii_digit())?;
    *digit = if *digit == b'9' { b'8' } else { *digit + 1 };
    serde_json::from_slice::<serde_json::Value>(&bytes).ok()?;
    answer["release"]["payload"] = serde_json::Value::String(B64.encode(&bytes));
    serde_json::to_vec(&answer).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_digit_of_the_release_payload_changes_and_nothing_else() {
        let doc = br#"{"app":"acme","created_at":1799999990,"version":"1.0.0"}"#;
        let body = serde_json::json!({
            "assignment": {"payload": "YXNzaWdubWVudA==", "payloadType": "a", "signatures": []},
            "release": {"payload": B64.encode(doc), "payloadType": "r", "signatures": []},
            "next_checkin_s": 60,
        });
        let changed = tamper_with_release(&serde_json::to_vec(&body).unwrap()).unwrap();
        let changed: serde_json::Value = serde_json::from_slice(&changed).unwrap();
        let payload = B64
            .decode(changed["release"]["payload"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            payload,
            br#"{"app":"acme","created_at":2799999990,"version":"1.0.0"}"#
        );
        assert_eq!(changed["assignment"], body["assignment"]);
        assert_eq!(changed["next_checkin_s"], 60);
    }

    #[test]
    fn an_answer_without_a_release_is_left_alone() {
        assert_eq!(tamper_with_release(br#"{"next_checkin_s":60}"#), None);
        assert_eq!(tamper_with_release(b"{not json"), None);
    }
}
