//! How the dashboard shows a time: UTC, to the second.

use time::macros::format_description;
use time::OffsetDateTime;

/// `at` (Unix seconds) as `2026-01-02 03:04:05 UTC`; the number itself if out of range.
pub(crate) fn when(at: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| at.to_string())
}

/// How long ago `at` was, seen from `now`, in the largest whole unit.
pub(crate) fn ago(at: i64, now: i64) -> String {
    let s = now.saturating_sub(at).max(0);
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}
