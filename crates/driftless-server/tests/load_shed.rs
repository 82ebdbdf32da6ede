//! Load shedding: past `max_in_flight` requests in flight the control plane answers
//! `503 overloaded` with `Retry-After` at once, and serves again as soon as a slot frees.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_server::{serve, RETRY_AFTER_S};
use driftless_store_sqlite::SqliteStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LIMIT: usize = 4;

/// A control plane on a loopback port with room for `LIMIT` requests at once.
async fn control_plane() -> std::net::SocketAddr {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    let state = support::state(Arc::new(store), LIMIT);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, state, std::future::pending()));
    addr
}

/// A request the server has admitted but cannot finish: its body is promised and never
/// sent, so the handler waits for it and holds its slot until the connection closes.
/// It asks `Expect: 100-continue`, and the server sends `100 Continue` only when the
/// handler starts reading the body: returning after it means the slot is taken, so a
/// probe sent next cannot race the held request for the slot.
async fn hold(addr: std::net::SocketAddr) -> TcpStream {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    // Authenticated, since a vendor route checks its caller before reading the body.
    let head = format!(
        "POST /v1/apps HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {}\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
        support::OPERATOR_TOKEN
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    let read_head = async {
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(conn.read(&mut byte).await.unwrap(), 1, "closed: {head:?}");
            head.push(byte[0]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_head)
        .await
        .expect("no answer to a held request within 10 s");
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 100 "), "not admitted: {head}");
    conn
}

/// One `GET /healthz` on a fresh connection: the status line's code, the headers and
/// the body, as text.
async fn probe(addr: std::net::SocketAddr) -> (u16, String) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    let code = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, answer)
}

/// Probes until the answer is `code`, for at most 10 s; returns the last answer.
async fn probe_until(addr: std::net::SocketAddr, code: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (got, answer) = probe(addr).await;
        if got == code {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "never answered {code}; last: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_limit_requests_are_shed_at_once_and_service_resumes() {
    let addr = control_plane().await;
    assert_eq!(probe(addr).await.0, 200, "an idle server serves");

    let mut held = Vec::new();
    for _ in 0..LIMIT {
        held.push(hold(addr).await);
    }
    // The held requests never finish, so this answer did not wait for a slot.
    let shed = probe_until(addr, 503).await;
    let lower = shed.to_ascii_lowercase();
    assert!(
        lower.contains(&format!("\r\nretry-after: {RETRY_AFTER_S}\r\n")),
        "{shed}"
    );
    assert!(shed.contains("\"code\":\"overloaded\""), "{shed}");
    assert!(
        shed.contains(&format!("limit of {LIMIT} requests")),
        "{shed}"
    );

    // One held request gives up: its slot serves the next request.
    drop(held.pop());
    probe_until(addr, 200).await;
    assert_eq!(probe(addr).await.0, 200);

    // Full again: shed again; then everyone leaves and the server serves.
    held.push(hold(addr).await);
    probe_until(addr, 503).await;
    held.clear();
    probe_until(addr, 200).await;
}
