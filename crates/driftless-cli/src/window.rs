//! Weekly update windows (`Sat 02:00-04:00, Sun 22:00-01:00`) in the host's time zone:
//! parsing, whether one is open at an instant, and when the next one opens. Pure: the
//! instant and the time zone are passed in.

use std::fmt;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan as _};

/// One weekly window: from `start` on `day` to `end`, local time; an `end` at or
/// before `start` is on the next day (the window crosses midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The day the window opens.
    pub day: Weekday,
    /// Minutes after midnight it opens.
    pub start: u16,
    /// Minutes after midnight it closes (on the next day when not after `start`).
    pub end: u16,
}

/// A window spec that does not parse; the message names the piece that is wrong.
#[derive(Debug, PartialEq, Eq)]
pub struct WindowError {
    /// The piece of the spec that is wrong.
    pub spec: String,
    /// What is wrong with it.
    pub why: String,
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid update window `{}`: {}", self.spec, self.why)
    }
}

impl std::error::Error for WindowError {}

const DAYS: [(&str, Weekday); 7] = [
    ("Mon", Weekday::Monday),
    ("Tue", Weekday::Tuesday),
    ("Wed", Weekday::Wednesday),
    ("Thu", Weekday::Thursday),
    ("Fri", Weekday::Friday),
    ("Sat", Weekday::Saturday),
    ("Sun", Weekday::Sunday),
];

/// The most windows one policy holds (one a day at most matters; a few more are fine).
pub const MAX_WINDOWS: usize = 28;

/// Parses comma-separated windows, each `DAY HH:MM-HH:MM` (DAY is Mon..Sun).
pub fn parse(spec: &str) -> Result<Vec<Window>, WindowError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(WindowError {
            spec: spec.into(),
            why: "no window given (e.g. `Sat 02:00-04:00`)".into(),
        });
    }
    let windows = spec
        .split(',')
        .map(parse_one)
        .collect::<Result<Vec<_>, _>>()?;
    if windows.len() > MAX_WINDOWS {
        return Err(WindowError {
            spec: spec.into(),
            why: format!("{} windows, at most {MAX_WINDOWS}", windows.len()),
        });
    }
    Ok(windows)
}

fn parse_one(item: &str) -> Result<Window, WindowError> {
    let item = item.trim();
    let err = |why: String| WindowError {
        spec: item.to_string(),
        why,
    };
    let mut parts = item.split_whitespace();
    let (Some(day), Some(times), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(err(
            "expected DAY HH:MM-HH:MM, e.g. `Sat 02:00-04:00`".into()
        ));
    };
    let day = DAYS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(day))
        .map(|(_, d)| *d)
        .ok_or_else(|| {
            err(format!(
                "unknown day `{day}` (Mon, Tue, Wed, Thu, Fri, Sat or Sun)"
            ))
        })?;
    let (start, end) = times
        .split_once('-')
        .ok_or_else(|| err(format!("`{times}` is not HH:MM-HH:MM")))?;
    let start = parse_time(start).map_err(err)?;
    let end = parse_time(end).map_err(err)?;
    if start == end {
        return Err(err("it opens and closes at the same time".into()));
    }
    Ok(Window { day, start, end })
}

/// `HH:MM`, two digits each, 00:00 to 23:59; minutes after midnight.
fn parse_time(text: &str) -> Result<u16, String> {
    let bad = || format!("`{text}` is not a time HH:MM (00:00 to 23:59)");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let day = DAYS
            .iter()
            .find(|(_, d)| *d == self.day)
            .map_or("?", |(n, _)| n);
        write!(
            f,
            "{day} {:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// The windows as `parse` reads them back: `Sat 02:00-04:00, Sun 22:00-01:00`.
pub fn display(windows: &[Window]) -> String {
    windows
        .iter()
        .map(Window::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The instants a window opening on `date` opens and closes, in `tz`. A local time
/// that does not exist (a DST gap) is taken as the instant just after the gap.
fn occurrence(w: &Window, date: Date, tz: &TimeZone) -> Option<(Timestamp, Timestamp)> {
    let at = |d: Date, minutes: u16| {
        let (h, m) = ((minutes / 60) as i8, (minutes % 60) as i8);
        d.at(h, m, 0, 0)
            .to_zoned_datetime(tz.clone())
            .ok()
            .map(|z| z.timestamp())
    };
    let end_date = if w.end > w.start {
        date
    } else {
        date.tomorrow().ok()?
    };
    Some((at(date, w.start)?, at(end_date, w.end)?))
}

/// The local dates from `from` days before today to `to` days after, in `tz`.
fn dates_around(now: Timestamp, tz: &TimeZone, from: i64, to: i64) -> Vec<Date> {
    let today = tz.to_datetime(now).date();
    (from..=to)
        .filter_map(|d| today.checked_add(d.days()).ok())
        .collect()
}

/// Whether one of `windows` is open at `now` (a window is open from its start up to,
/// not including, its end).
pub fn is_open(windows: &[Window], now: Timestamp, tz: &TimeZone) -> bool {
    // A window that opened yesterday may still be open (it crosses midnight).
    dates_around(now, tz, -1, 0).into_iter().any(|date| {
        windows
            .iter()
            .filter(|w| w.day == date.weekday())
            .filter_map(|w| occurrence(w, date, tz))
            .any(|(start, end)| start <= now && now < end)
    })
}

/// When the next of `windows` opens after `now`, in `tz` (within the next eight days).
pub fn next_opening(windows: &[Window], now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
    dates_around(now, tz, 0, 8)
        .into_iter()
        .flat_map(|date| {
            windows
                .iter()
                .filter(move |w| w.day == date.weekday())
                .filter_map(move |w| occurrence(w, date, tz))
        })
        .map(|(start, _)| start)
        .filter(|start| *start > now)
        .min()
}

/// An instant as the host's local time, for people: `Sat 2026-12-05 02:00 UTC`.
pub fn local_text(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned_datetime(tz.clone())
        .strftime("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Unix seconds of an RFC 3339 instant.
    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn parses_several_windows_and_prints_them_back() {
        let w = parse(" sat 02:00-04:00 ,Sun 22:30-01:00").unwrap();
        assert_eq!(
            w,
            [
                Window {
                    day: Weekday::Saturday,
                    start: 120,
                    end: 240
                },
                Window {
                    day: Weekday::Sunday,
                    start: 1350,
                    end: 60
                }
            ]
        );
        assert_eq!(display(&w), "Sat 02:00-04:00, Sun 22:30-01:00");
        assert_eq!(parse(&display(&w)).unwrap(), w);
    }

    #[test]
    fn refuses_every_malformed_window_naming_the_piece() {
        for (spec, names) in [
            ("", "no window"),
            ("Sat", "`Sat`"),
            ("Sab 02:00-04:00", "unknown day `Sab`"),
            ("Saturday 02:00-04:00", "unknown day `Saturday`"),
            ("Sat 2:00-04:00", "`2:00`"),
            ("Sat 02:00-24:00", "`24:00`"),
            ("Sat 02:60-04:00", "`02:60`"),
            ("Sat 02:00", "`02:00` is not HH:MM-HH:MM"),
            ("Sat 02:00-02:00", "same time"),
            ("Sat 02:00-04:00,", "invalid update window ``"),
            ("Sat 02:00-04:00 UTC", "expected DAY HH:MM-HH:MM"),
            ("Sat +2:00-04:00", "`+2:00`"),
        ] {
            let e = parse(spec).unwrap_err().to_string();
            assert!(e.contains(names), "{spec:?}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn a_window_is_open_from_its_start_until_just_before_its_end() {
        let w = parse("Sat 02:00-04:00").unwrap();
        let utc = TimeZone::UTC;
        // 2026-12-05 is a Saturday.
        assert!(!is_open(&w, at("2026-12-05T01:59:59Z"), &utc));
        assert!(is_open(&w, at("2026-12-05T02:00:00Z"), &utc));
        assert!(is_open(&w, at("2026-12-05T03:59:59Z"), &utc));
        assert!(!is_open(&w, at("2026-12-05T04:00:00Z"), &utc));
        assert!(!is_open(&w, at("2026-12-06T03:00:00Z"), &utc), "Sunday");
    }

    #[test]
    fn a_window_crossing_midnight_is_open_on_both_days() {
        let w = parse("Sun 22:00-01:00").unwrap();
        let utc = TimeZone::UTC;
        assert!(!is_open(&w, at("2026-12-06T21:59:00Z"), &utc));
        assert!(is_open(&w, at("2026-12-06T23:30:00Z"), &utc));
        assert!(
            is_open(&w, at("2026-12-07T00:59:00Z"), &utc),
            "Monday, 00:59"
        );
        assert!(!is_open(&w, at("2026-12-07T01:00:00Z"), &utc));
        assert_eq!(
            next_opening(&w, at("2026-12-07T00:30:00Z"), &utc),
            Some(at("2026-12-13T22:00:00Z")),
            "open now: the next opening is a week later"
        );
    }

    #[test]
    fn the_next_opening_is_the_earliest_start_after_now() {
        let w = parse("Sat 02:00-04:00, Wed 12:00-13:00").unwrap();
        let utc = TimeZone::UTC;
        // Friday 2026-12-04 10:00: Saturday comes first.
        assert_eq!(
            next_opening(&w, at("2026-12-04T10:00:00Z"), &utc),
            Some(at("2026-12-05T02:00:00Z"))
        );
        // Saturday 05:00: next is Wednesday.
        assert_eq!(
            next_opening(&w, at("2026-12-05T05:00:00Z"), &utc),
            Some(at("2026-12-09T12:00:00Z"))
        );
        // Saturday 02:00 exactly (open): the next opening is Wednesday.
        assert_eq!(
            next_opening(&w, at("2026-12-05T02:00:00Z"), &utc),
            Some(at("2026-12-09T12:00:00Z"))
        );
    }

    #[test]
    fn windows_are_in_the_hosts_time_zone() {
        let w = parse("Sat 02:00-04:00").unwrap();
        // Central European time: UTC+1 in December.
        let cet = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert!(is_open(&w, at("2026-12-05T01:30:00Z"), &cet), "02:30 local");
        assert!(
            !is_open(&w, at("2026-12-05T03:30:00Z"), &cet),
            "04:30 local"
        );
        assert_eq!(
            next_opening(&w, at("2026-12-04T12:00:00Z"), &cet),
            Some(at("2026-12-05T01:00:00Z"))
        );
        assert_eq!(
            local_text(at("2026-12-05T01:00:00Z"), &cet),
            "Sat 2026-12-05 02:00 CET"
        );
    }

    #[test]
    fn a_window_starting_in_a_dst_gap_opens_after_the_gap() {
        // 2026-03-29 (a Sunday) 02:00-03:00 does not exist in CET: clocks jump to 03:00.
        let w = parse("Sun 02:30-04:00").unwrap();
        let cet = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let opening = next_opening(&w, at("2026-03-28T12:00:00Z"), &cet).unwrap();
        assert!(is_open(&w, opening, &cet));
        assert!(!is_open(&w, at("2026-03-29T00:59:00Z"), &cet), "01:59 CET");
        assert!(is_open(&w, at("2026-03-29T01:45:00Z"), &cet), "03:45 CEST");
    }
}
