//! Load shedding: past `max_in_flight` requests in flight, and while it runs later than
//! `max_queue_delay_ms` with requests queueing, the control plane answers
//! `503 overloaded` with `Retry-After` at once, and serves again as soon as it can.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    )
    .await
}

/// Sends `request` on a fresh connection; the answer's status code and the whole
/// answer, as text.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    let code = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, answer)
}

/// Asserts that `answer` (a whole HTTP answer) is the shedding `503`: `Retry-After`,
/// the `overloaded` code, and a message naming the limit as `limit` says.
fn assert_overloaded(answer: &str, limit: &str) {
    let lower = answer.to_ascii_lowercase();
    assert!(
        lower.contains(&format!("\r\nretry-after: {RETRY_AFTER_S}\r\n")),
        "{answer}"
    );
    assert!(answer.contains("\"code\":\"overloaded\""), "{answer}");
    assert!(answer.contains(limit), "{answer}");
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
    assert_overloaded(&shed, &format!("limit of {LIMIT} requests"));

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

/// The queueing-delay limit of [`late_control_plane`], in milliseconds.
const DELAY_LIMIT_MS: u64 = 5;

/// A control plane on a one-thread runtime of its own (as `serve` runs on one core)
/// with a queueing-delay limit of [`DELAY_LIMIT_MS`], and a switch that makes that
/// runtime run late: while it is on, a task blocks the thread 2 ms at a time and goes to
/// the back of the run queue, always ready to run again, so every other task (the
/// probe's timer, each connection) waits its turn behind it, as behind a queue of
/// requests.
fn late_control_plane() -> (std::net::SocketAddr, Arc<AtomicBool>) {
    let late = Arc::new(AtomicBool::new(false));
    let switch = late.clone();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let store = SqliteStore::open("sqlite::memory:").await.unwrap();
            let state = support::configured_state(Arc::new(store), |config| {
                config.max_queue_delay_ms = DELAY_LIMIT_MS;
            });
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            tokio::spawn(async move {
                loop {
                    if switch.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(2));
                        requeue().await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            });
            serve(listener, state, std::future::pending())
                .await
                .unwrap();
        });
    });
    (addr_rx.recv().unwrap(), late)
}

/// Puts the calling task at the back of its runtime's run queue, ready. (Unlike
/// `yield_now`, which waits for the runtime to poll its I/O and timers first, so a
/// task that only yields never keeps them waiting.)
async fn requeue() {
    let mut queued = false;
    std::future::poll_fn(|cx| {
        if queued {
            return std::task::Poll::Ready(());
        }
        queued = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

/// A host's request: a check-in of an install the control plane does not know, so
/// one it serves is refused (a 4xx) and one it sheds is a `503`. The status code and
/// the whole answer.
async fn host_request(addr: std::net::SocketAddr) -> (u16, String) {
    exchange(
        addr,
        b"POST /v1/installs/ins_unknown/checkin HTTP/1.1\r\nHost: test\r\n\
          Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_server_sheds_hosts_requests_while_they_queue_and_resumes_when_on_time() {
    let (addr, late) = late_control_plane();
    let (code, answer) = host_request(addr).await;
    assert!(
        (400..500).contains(&code),
        "an idle server serves: {answer}"
    );

    // Late, but one request at a time: no queue to shed, so each is served.
    late.store(true, Ordering::Relaxed);
    for _ in 0..10 {
        let (code, answer) = host_request(addr).await;
        assert_ne!(code, 503, "a late server shed a lone request: {answer}");
    }

    // Late, with 64 hosts asking at once: requests queue, and some are shed.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let (shed_tx, mut shed_rx) = tokio::sync::mpsc::unbounded_channel();
    let hosts: Vec<_> = (0..64)
        .map(|_| {
            let (stop, served, shed_tx) = (stop.clone(), served.clone(), shed_tx.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let (code, answer) = host_request(addr).await;
                    match code {
                        503 => {
                            let _ = shed_tx.send(answer);
                        }
                        400..=499 => {
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("unexpected {other}: {answer}"),
                    }
                }
            })
        })
        .collect();
    let shed = tokio::time::timeout(Duration::from_secs(30), shed_rx.recv())
        .await
        .expect("nothing shed within 30 s while the server ran late with requests queueing")
        .unwrap();
    assert_overloaded(&shed, &format!("past its limit of {DELAY_LIMIT_MS} ms"));
    // Only a share is shed: hosts are still served meanwhile.
    let served_then = served.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(30);
    while served.load(Ordering::Relaxed) < served_then + 64 {
        assert!(
            Instant::now() < deadline,
            "no host request served while shedding"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // What is not a host's request is never shed for lateness.
    for _ in 0..10 {
        let (code, answer) = probe(addr).await;
        assert_eq!(code, 200, "a health check was shed: {answer}");
    }

    // On time again: every request is served.
    late.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for host in hosts {
        host.await.unwrap();
    }
    // Shedding winds down within a few measurements, then every request is served.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut served_in_a_row = 0;
    while served_in_a_row < 20 {
        let (code, answer) = host_request(addr).await;
        if code == 503 {
            served_in_a_row = 0;
            assert!(
                Instant::now() < deadline,
                "still shed when on time: {answer}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        } else {
            assert!((400..500).contains(&code), "{answer}");
            served_in_a_row += 1;
        }
    }
}
