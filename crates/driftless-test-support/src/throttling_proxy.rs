//! A slow link to the registry: an HTTP/1.1 proxy on a free loopback port that sends
//! the registry's answers on at a fixed rate (shared by every connection), notes the
//! bearer token each request carries, and refuses a request whose token has expired
//! the way a registry that honours `exp` to the second would (distribution itself
//! allows a minute of leeway, which would let an expired token through).
//!
//! Give a host its address as the registry host: the engine treats loopback
//! registries as plain-HTTP ones.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;

/// How many bytes are sent on at once; small enough that pacing is smooth.
const CHUNK: usize = 16 * 1024;
/// The longest request head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;
/// What the proxy answers for a request with an expired token, as the registry words it.
const EXPIRED_BODY: &str =
    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    /// `GET /v2/acme/r1/web/blobs/sha256:…`.
    pub line: String,
    /// The bearer token it carried, if any.
    pub token: Option<String>,
    /// Whether the proxy refused it because its token had expired.
    pub refused_expired: bool,
}

/// What the connections share.
struct Shared {
    upstream: String,
    bytes_per_s: f64,
    /// When the link is free to send the next chunk.
    next_send: Mutex<Instant>,
    seen: Mutex<Vec<SeenRequest>>,
    sockets: Mutex<Vec<TcpStream>>,
    stop: AtomicBool,
}

/// A running proxy; it stops accepting and closes every connection on drop.
pub struct ThrottlingProxy {
    addr: String,
    shared: Arc<Shared>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl ThrottlingProxy {
    /// Starts a proxy to `upstream` (`host:port`) sending answers at `bytes_per_s`.
    pub fn start(upstream: &str, bytes_per_s: u64) -> anyhow::Result<ThrottlingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .context("cannot bind a loopback port for the throttling proxy")?;
        let addr = listener.local_addr()?.to_string();
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            bytes_per_s: bytes_per_s as f64,
            next_send: Mutex::new(Instant::now()),
            seen: Mutex::new(Vec::new()),
            sockets: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let for_acceptor = Arc::clone(&shared);
        let acceptor = thread::spawn(move || accept(&listener, &for_acceptor));
        Ok(ThrottlingProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The proxy's `host:port`, e.g. `127.0.0.1:41234`.
    pub fn host(&self) -> String {
        self.addr.clone()
    }

    /// Every request seen so far, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.shared.seen).clone()
    }

    /// The distinct bearer tokens requests carried, in the order first seen.
    pub fn tokens(&self) -> Vec<String> {
        let mut first_seen = BTreeSet::new();
        self.requests()
            .into_iter()
            .filter_map(|r| r.token)
            .filter(|t| first_seen.insert(t.clone()))
            .collect()
    }
}

impl Drop for ThrottlingProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees the stop flag.
        let _ = TcpStream::connect(&self.addr);
        for socket in lock(&self.shared.sockets).drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(upstream) = TcpStream::connect(&shared.upstream) else {
            continue;
        };
        let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
            continue;
        };
        {
            let mut sockets = lock(&shared.sockets);
            sockets.extend(client.try_clone().ok());
            sockets.extend(upstream.try_clone().ok());
        }
        let down = Arc::clone(shared);
        thread::spawn(move || send_down(u2, c2, &down));
        let up = Arc::clone(shared);
        thread::spawn(move || send_up(client, upstream, &up));
    }
}

/// Copies the registry's answers to the client at the shared rate.
fn send_down(mut upstream: TcpStream, mut client: TcpStream, shared: &Shared) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match upstream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pace(shared, n);
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Write);
}

/// Waits until the link has room for `n` more bytes.
fn pace(shared: &Shared, n: usize) {
    let until = {
        let mut next = lock(&shared.next_send);
        let start = (*next).max(Instant::now());
        *next = start + Duration::from_secs_f64(n as f64 / shared.bytes_per_s);
        *next
    };
    let now = Instant::now();
    if until > now {
        thread::sleep(until - now);
    }
}

/// Reads each request head from the client, notes it, and sends it (and its body) on,
/// unless its token has expired: then answers 401 itself and closes the connection.
fn send_up(mut client: TcpStream, mut upstream: TcpStream, shared: &Shared) {
    let mut pending = Vec::new();
    while let Some((head, rest)) = read_head(&mut client, pending) {
        let text = String::from_utf8_lossy(&head).into_owned();
        let token = bearer_token(&text);
        let expired = token.as_deref().is_some_and(is_expired);
        lock(&shared.seen).push(SeenRequest {
            line: text.lines().next().unwrap_or_default().to_string(),
            token,
            refused_expired: expired,
        });
        if expired {
            let answer = format!(
                "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{EXPIRED_BODY}",
                EXPIRED_BODY.len()
            );
            let _ = client.write_all(answer.as_bytes());
            break;
        }
        if upstream.write_all(&head).is_err() {
            break;
        }
        if header_value(&text, "transfer-encoding").is_some() {
            // A chunked body (a push): no more heads to read, pass the rest through.
            let _ = upstream.write_all(&rest);
            let _ = std::io::copy(&mut client, &mut upstream);
            break;
        }
        let length: usize = header_value(&text, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        match forward_body(&mut client, &mut upstream, rest, length) {
            Some(left) => pending = left,
            None => break,
        }
    }
    let _ = upstream.shutdown(Shutdown::Both);
    let _ = client.shutdown(Shutdown::Both);
}

/// Reads up to the end of a request head; returns the head and what followed it.
fn read_head(client: &mut TcpStream, mut buf: Vec<u8>) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let n = client.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends a `length`-byte body on, starting with `rest`; returns what followed it.
fn forward_body(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    mut rest: Vec<u8>,
    length: usize,
) -> Option<Vec<u8>> {
    if rest.len() >= length {
        let after = rest.split_off(length);
        upstream.write_all(&rest).ok()?;
        return Some(after);
    }
    upstream.write_all(&rest).ok()?;
    let left = u64::try_from(length - rest.len()).ok()?;
    let copied = std::io::copy(&mut client.take(left), upstream).ok()?;
    (copied == left).then(Vec::new)
}

/// The value of header `name` (lowercase) in a request head.
fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

/// The bearer token of a request head, if it carries one.
fn bearer_token(head: &str) -> Option<String> {
    let value = header_value(head, "authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// Whether a JWT's `exp` has passed (a token that is not a JWT is left to the registry).
fn is_expired(token: &str) -> bool {
    let exp = token
        .split('.')
        .nth(1)
        .and_then(|claims| B64URL.decode(claims).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|claims| claims["exp"].as_i64());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    exp.is_some_and(|exp| now >= exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(exp: i64) -> String {
        let claims = B64URL.encode(format!(r#"{{"sub":"ins_1","exp":{exp}}}"#));
        format!("eyJhbGciOiJFUzI1NiJ9.{claims}.c2ln")
    }

    #[test]
    fn reads_the_bearer_token_and_its_expiry_from_a_request_head() {
        let head = "GET /v2/a/r1/web/manifests/sha256:ab HTTP/1.1\r\nHost: x\r\nAUTHORIZATION: Bearer abc.def.ghi\r\n\r\n";
        assert_eq!(bearer_token(head).as_deref(), Some("abc.def.ghi"));
        assert_eq!(bearer_token("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"), None);
        assert!(is_expired(&jwt(1)));
        assert!(!is_expired(&jwt(i64::MAX / 2)));
        assert!(!is_expired("not-a-jwt"));
    }

    #[test]
    fn answers_pass_through_paced_and_expired_tokens_are_refused() {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream_addr = upstream.local_addr().unwrap().to_string();
        let body = vec![b'x'; 64 * 1024];
        let served = body.clone();
        thread::spawn(move || {
            for conn in upstream.incoming() {
                let mut conn = conn.unwrap();
                let mut pending = Vec::new();
                while let Some((_, rest)) = read_head(&mut conn, pending) {
                    pending = rest;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                        served.len()
                    );
                    conn.write_all(head.as_bytes()).unwrap();
                    conn.write_all(&served).unwrap();
                }
            }
        });
        // 64 KiB at 256 KiB/s: a quarter of a second at least.
        let proxy = ThrottlingProxy::start(&upstream_addr, 256 * 1024).unwrap();
        let mut conn = TcpStream::connect(proxy.host()).unwrap();
        let fresh = jwt(i64::MAX / 2);
        let started = Instant::now();
        write!(
            conn,
            "GET /v2/x HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer {fresh}\r\n\r\n"
        )
        .unwrap();
        let expected =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).len() + body.len();
        let mut answer = Vec::new();
        let mut buf = [0u8; 8192];
        while answer.len() < expected {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "the proxy closed the connection early");
            answer.extend_from_slice(&buf[..n]);
        }
        assert!(answer.ends_with(&body));
        assert!(
            started.elapsed() >= Duration::from_millis(240),
            "{:?}",
            started.elapsed()
        );

        write!(
            conn,
            "GET /v2/y HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer {}\r\n\r\n",
            jwt(1)
        )
        .unwrap();
        let mut refused = String::new();
        conn.read_to_string(&mut refused).unwrap();
        assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
        assert!(refused.ends_with(EXPIRED_BODY), "{refused}");
        let seen = proxy.requests();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(
            !seen[0].refused_expired && seen[1].refused_expired,
            "{seen:?}"
        );
        assert_eq!(proxy.tokens(), vec![fresh, jwt(1)]);
    }
}
