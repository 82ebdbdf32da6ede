//! W3C Trace Context: the `traceparent` header a host sends so one sync can be followed
//! from the host through the control plane, and the request id the control plane puts
//! on every log line of a request.
//!
//! Parsing follows the Trace Context recommendation (level 1): a header that does not
//! parse is ignored and a new trace started, never refused.

use std::fmt;

/// The W3C trace context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// The request id header: taken from the request when valid, always in the response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The longest incoming request id the control plane adopts.
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// The `sampled` trace flag.
pub const FLAG_SAMPLED: u8 = 0x01;

/// A trace id: 16 bytes, never all zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 16]);

/// A span id (`parent-id` in the header): 8 bytes, never all zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpanId([u8; 8]);

impl TraceId {
    /// A fresh random trace id.
    pub fn random() -> Self {
        TraceId(nonzero_random())
    }

    /// The id from its bytes; `None` for all zeros (invalid by the spec).
    pub fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        (bytes != [0; 16]).then_some(TraceId(bytes))
    }
}

impl SpanId {
    /// A fresh random span id.
    pub fn random() -> Self {
        SpanId(nonzero_random())
    }

    /// The id from its bytes; `None` for all zeros (invalid by the spec).
    pub fn from_bytes(bytes: [u8; 8]) -> Option<Self> {
        (bytes != [0; 8]).then_some(SpanId(bytes))
    }
}

fn nonzero_random<const N: usize>() -> [u8; N] {
    loop {
        let mut bytes = [0u8; N];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
        if bytes != [0; N] {
            return bytes;
        }
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A parsed `traceparent`: the trace, the caller's span and the trace flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// The whole trace's id.
    pub trace_id: TraceId,
    /// The span of the caller (the header's `parent-id`).
    pub parent_id: SpanId,
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// A new span `span_id` in `trace_id`, sampled.
    pub fn new(trace_id: TraceId, span_id: SpanId) -> Self {
        TraceParent {
            trace_id,
            parent_id: span_id,
            flags: FLAG_SAMPLED,
        }
    }

    /// Parses a `traceparent` value; `None` when it is invalid (then a receiver starts
    /// a new trace). Version `00` must be exactly 55 characters; a later version may
    /// append `-`-separated fields, and `ff` is never valid.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim_matches([' ', '\t']);
        let bytes = value.as_bytes();
        let version = lower_hex::<1>(value.get(0..2)?)?[0];
        let fits = match version {
            0x00 => bytes.len() == 55,
            0xff => false,
            _ => bytes.len() == 55 || (bytes.len() > 55 && bytes[55] == b'-'),
        };
        if !fits || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        Some(TraceParent {
            trace_id: TraceId::from_bytes(lower_hex(value.get(3..35)?)?)?,
            parent_id: SpanId::from_bytes(lower_hex(value.get(36..52)?)?)?,
            flags: lower_hex::<1>(value.get(53..55)?)?[0],
        })
    }
}

impl TraceParent {
    /// The header value (version `00`) in a buffer of its own: what [`fmt::Display`]
    /// writes, without formatting machinery or an allocation.
    pub fn to_header(&self) -> [u8; 55] {
        let mut out = [b'-'; 55];
        out[0..2].copy_from_slice(b"00");
        // The slices have exactly twice the bytes' length, so encoding cannot fail.
        let _ = hex::encode_to_slice(self.trace_id.0, &mut out[3..35]);
        let _ = hex::encode_to_slice(self.parent_id.0, &mut out[36..52]);
        let _ = hex::encode_to_slice([self.flags], &mut out[53..55]);
        out
    }
}

impl fmt::Display for TraceParent {
    /// The header value, always version `00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

/// `N` bytes from exactly `2N` lowercase hex digits (the spec refuses uppercase).
fn lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Whether an incoming `X-Request-Id` may be adopted: 1 to [`MAX_REQUEST_ID_LEN`]
/// characters of letters, digits and `-_.:`, so it cannot forge or split a log line.
pub fn is_valid_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_spec_example_parses_and_prints_back() {
        let tp = TraceParent::parse(VALID).unwrap();
        assert_eq!(tp.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_id.to_string(), "00f067aa0ba902b7");
        assert_eq!(tp.flags, FLAG_SAMPLED);
        assert_eq!(tp.to_string(), VALID);
        assert_eq!(tp.to_header().as_slice(), VALID.as_bytes());
    }

    #[test]
    fn surrounding_blanks_are_ignored() {
        assert!(TraceParent::parse(&format!(" \t{VALID} ")).is_some());
    }

    #[test]
    fn a_later_version_may_carry_more_fields_but_00_may_not() {
        let later = VALID.replacen("00-", "cc-", 1);
        assert!(TraceParent::parse(&later).is_some());
        assert!(TraceParent::parse(&format!("{later}-what-the-future-adds")).is_some());
        assert!(TraceParent::parse(&format!("{later}x")).is_none());
        assert!(TraceParent::parse(&format!("{VALID}-more")).is_none());
    }

    #[test]
    fn every_malformed_header_is_refused() {
        let cases = [
            "",
            "00",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01é",
            "é0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ];
        for case in cases {
            assert_eq!(TraceParent::parse(case), None, "{case:?}");
        }
    }

    #[test]
    fn random_ids_are_valid_and_distinct() {
        let (a, b) = (TraceId::random(), TraceId::random());
        assert_ne!(a, b);
        let tp = TraceParent::new(a, SpanId::random());
        assert_eq!(TraceParent::parse(&tp.to_string()), Some(tp));
    }

    #[test]
    fn a_request_id_that_could_split_a_log_line_is_not_adopted() {
        assert!(is_valid_request_id("req-1.2_3:4"));
        assert!(!is_valid_request_id(""));
        assert!(!is_valid_request_id("a\nb"));
        assert!(!is_valid_request_id("a\"b"));
        assert!(!is_valid_request_id(&"a".repeat(MAX_REQUEST_ID_LEN + 1)));
    }
}
