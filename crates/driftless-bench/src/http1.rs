//! A minimal HTTP/1.1 client for load generation: one keep-alive TCP connection, one
//! request in flight, requests written from bytes the caller prepared, answers framed
//! by `Content-Length` (or chunked) without copying. Far cheaper per request than a
//! general client, so one core drives a server well past nginx's rate.

use std::ops::Range;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The largest answer head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The largest answer body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Why an answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The connection failed or closed.
    #[error("connection to {addr}: {source}")]
    Io {
        /// `host:port`.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes are not an HTTP/1.1 answer this client understands.
    #[error("malformed HTTP answer: {0}")]
    Malformed(&'static str),
}

/// Where the parts of one parsed answer are in the read buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `ETag` value, quotes included.
    pub etag: Option<Range<usize>>,
    /// The seconds of its `Retry-After` header, if one came with it.
    pub retry_after: Option<u64>,
    /// Whether the server closes the connection after it.
    pub close: bool,
    /// The body (for a chunked answer: the raw chunked bytes).
    pub body: Range<usize>,
    /// The answer's whole length.
    pub len: usize,
}

/// Parses one answer at the start of `buf`: `Ok(None)` while it is incomplete.
pub fn parse_answer(buf: &[u8]) -> Result<Option<Answer>, HttpError> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(HttpError::Malformed("answer head is too long"));
        }
        return Ok(None);
    };
    let head = &buf[..head_end];
    let status_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let status = parse_status_line(trim_cr(&head[..status_end]))?;
    let mut offset = (status_end + 1).min(head.len());
    let mut answer = Answer {
        status,
        etag: None,
        retry_after: None,
        close: false,
        body: 0..0,
        len: 0,
    };
    let mut content_length = None;
    let mut chunked = false;
    while offset < head.len() {
        let start = offset;
        let line_len = head[start..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(head.len() - start);
        offset += line_len + 1;
        let line = trim_cr(&head[start..start + line_len]);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(HttpError::Malformed("header line without a colon"));
        };
        let raw_value = &line[colon + 1..];
        let (name, value) = (&line[..colon], trim(raw_value));
        let lead = raw_value
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        let value_start = start + colon + 1 + lead;
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or(HttpError::Malformed("bad Content-Length"))?;
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"etag") {
            answer.etag = Some(value_start..value_start + value.len());
        } else if name.eq_ignore_ascii_case(b"retry-after") {
            let seconds = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(HttpError::Malformed(
                    "Retry-After is not a number of seconds",
                ))?;
            answer.retry_after = Some(seconds);
        } else if name.eq_ignore_ascii_case(b"connection") {
            answer.close = value.eq_ignore_ascii_case(b"close");
        }
    }
    let body_start = head_end + 4;
    let body_len = if status == 304 || status == 204 || (100..200).contains(&status) {
        0
    } else if chunked {
        match chunked_len(&buf[body_start..])? {
            Some(n) => n,
            None => return Ok(None),
        }
    } else {
        content_length.ok_or(HttpError::Malformed(
            "answer has neither Content-Length nor chunked framing",
        ))?
    };
    if body_len > MAX_BODY {
        return Err(HttpError::Malformed("answer body is too large"));
    }
    if buf.len() < body_start + body_len {
        return Ok(None);
    }
    answer.body = body_start..body_start + body_len;
    answer.len = body_start + body_len;
    Ok(Some(answer))
}

/// `HTTP/1.1 304 Not Modified` → 304.
fn parse_status_line(line: &[u8]) -> Result<u16, HttpError> {
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))
        .ok_or(HttpError::Malformed("status line is not HTTP/1.x"))?;
    let code = rest
        .get(..3)
        .ok_or(HttpError::Malformed("short status line"))?;
    std::str::from_utf8(code)
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|c| (100..600).contains(c))
        .ok_or(HttpError::Malformed("bad status code"))
}

/// The length of a complete chunked body (through its last chunk and trailers), or
/// `None` while it is incomplete.
fn chunked_len(body: &[u8]) -> Result<Option<usize>, HttpError> {
    let mut at = 0;
    loop {
        let Some(line_end) = find(&body[at..], b"\r\n") else {
            return Ok(None);
        };
        let size_text = &body[at..at + line_end];
        let size_text = size_text.split(|&b| b == b';').next().unwrap_or_default();
        let size = std::str::from_utf8(trim(size_text))
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or(HttpError::Malformed("bad chunk size"))?;
        at += line_end + 2;
        if size == 0 {
            // Trailers end with an empty line.
            return Ok(find(&body[at..], b"\r\n").map(|_| {
                let mut end = at;
                while let Some(l) = find(&body[end..], b"\r\n") {
                    end += l + 2;
                    if l == 0 {
                        break;
                    }
                }
                end
            }));
        }
        if body.len() < at + size + 2 {
            return Ok(None);
        }
        at += size + 2;
        if at > MAX_BODY {
            return Err(HttpError::Malformed("answer body is too large"));
        }
    }
}

/// The first position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &s[start..end]
}

/// An `http://host:port/path` URL split into what a connection needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port` to connect to and send as `Host`.
    pub addr: String,
    /// The path (at least `/`).
    pub path: String,
}

impl Target {
    /// Parses a plain-HTTP URL; `None` for anything else.
    pub fn parse(url: &str) -> Option<Target> {
        let rest = url.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return None;
        }
        let addr = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Some(Target {
            addr,
            path: path.to_string(),
        })
    }
}

/// One keep-alive connection with its read buffer.
pub struct Connection {
    addr: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Connection {
    /// A connection to `addr`, opened at the first request.
    pub fn new(addr: &str) -> Connection {
        Connection {
            addr: addr.to_string(),
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// Sends `request` and reads its answer; the answer's ranges index [`Self::buf`].
    pub async fn round_trip(&mut self, request: &[u8]) -> Result<Answer, HttpError> {
        let io = |source| HttpError::Io {
            addr: self.addr.clone(),
            source,
        };
        let stream = match &mut self.stream {
            Some(s) => s,
            None => {
                let s = TcpStream::connect(&self.addr).await.map_err(io)?;
                s.set_nodelay(true).map_err(io)?;
                self.stream.insert(s)
            }
        };
        self.buf.clear();
        let result = exchange(stream, request, &mut self.buf).await;
        match result {
            Ok(answer) => {
                if answer.close {
                    self.stream = None;
                }
                Ok(answer)
            }
            Err(e) => {
                self.stream = None;
                Err(match e {
                    Exchange::Io(source) => io(source),
                    Exchange::Http(e) => e,
                })
            }
        }
    }

    /// The bytes of the last answer.
    pub fn buf(&self) -> &[u8] {
        &self.buf
    }
}

enum Exchange {
    Io(std::io::Error),
    Http(HttpError),
}

async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> Result<Answer, Exchange> {
    stream.write_all(request).await.map_err(Exchange::Io)?;
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let n = stream.read_buf(buf).await.map_err(Exchange::Io)?;
        if n == 0 {
            return Err(Exchange::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )));
        }
        if let Some(answer) = parse_answer(buf).map_err(Exchange::Http)? {
            return Ok(answer);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_304_has_no_body_and_keeps_its_etag() {
        let raw = b"HTTP/1.1 304 Not Modified\r\netag: \"abc\"\r\nx-driftless-root-version: 1\r\ndate: x\r\n\r\n";
        let a = parse_answer(raw).unwrap().unwrap();
        assert_eq!(a.status, 304);
        assert_eq!(&raw[a.etag.clone().unwrap()], b"\"abc\"");
        assert_eq!(a.len, raw.len());
        assert!(a.body.is_empty());
        assert!(a.retry_after.is_none() && !a.close);
    }

    #[test]
    fn a_body_is_framed_by_content_length_and_may_arrive_in_pieces() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag:  \"t\" \r\n\r\nhello";
        for cut in 0..raw.len() {
            assert_eq!(parse_answer(&raw[..cut]).unwrap(), None, "cut at {cut}");
        }
        let a = parse_answer(raw).unwrap().unwrap();
        assert_eq!(&raw[a.body.clone()], b"hello");
        assert_eq!(&raw[a.etag.unwrap()], b"\"t\"");
        assert_eq!(a.len, raw.len());
    }

    #[test]
    fn a_503_says_whether_it_carries_retry_after() {
        let raw =
            b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n";
        let a = parse_answer(raw).unwrap().unwrap();
        assert_eq!(a.status, 503);
        assert_eq!(a.retry_after, Some(1));
    }

    #[test]
    fn a_chunked_body_is_complete_only_after_its_last_chunk() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n1;x=y\r\n!\r\n0\r\n\r\n";
        assert_eq!(parse_answer(&raw[..raw.len() - 2]).unwrap(), None);
        let a = parse_answer(raw).unwrap().unwrap();
        assert_eq!(a.len, raw.len());
        assert!(a.close);
    }

    #[test]
    fn malformed_answers_are_refused() {
        for raw in [
            &b"SMTP 220 hello\r\n\r\n"[..],
            b"HTTP/1.1 20\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            assert!(
                parse_answer(raw).is_err(),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn urls_split_into_address_and_path() {
        assert_eq!(
            Target::parse("http://127.0.0.1:8080/static/a.json"),
            Some(Target {
                addr: "127.0.0.1:8080".into(),
                path: "/static/a.json".into()
            })
        );
        assert_eq!(
            Target::parse("http://localhost").unwrap().addr,
            "localhost:80"
        );
        assert_eq!(Target::parse("https://x:1/"), None);
        assert_eq!(Target::parse("http:///x"), None);
    }
}
