//! The standard `process_*` metrics (CPU, resident memory, open and allowed file
//! descriptors, start time), read from Linux's `/proc/self` at each scrape. Elsewhere
//! they are left out: the scrape still answers.

use std::fs;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;

/// `/proc` counts CPU time and start time in `USER_HZ` ticks, which the kernel fixes at
/// 100 a second for every program, whatever its own timer frequency.
const TICKS_PER_S: f64 = 100.0;

/// Formats this process's figures at each scrape.
#[derive(Debug)]
pub(crate) struct ProcessCollector;

/// What `/proc/self` says about this process.
#[derive(Debug, Default, PartialEq)]
struct ProcessFigures {
    cpu_s: f64,
    rss_bytes: Option<i64>,
    start_time_s: Option<f64>,
    open_fds: Option<i64>,
    max_fds: Option<i64>,
}

/// Fields of `/proc/self/stat` after the command name: utime, stime and starttime,
/// counted from the state field (field 3 of the man page).
const UTIME: usize = 11;
const STIME: usize = 12;
const STARTTIME: usize = 19;

/// CPU seconds and start ticks from a `/proc/<pid>/stat` line.
fn parse_stat(stat: &str) -> Option<(f64, f64)> {
    // The command name is in parentheses and may hold spaces: read after its end.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((
        (tick(UTIME)? + tick(STIME)?) / TICKS_PER_S,
        tick(STARTTIME)?,
    ))
}

/// Resident memory from `/proc/self/status` (`VmRSS: 1234 kB`).
fn parse_rss(status: &str) -> Option<i64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The soft limit of open files from `/proc/self/limits`.
fn parse_max_fds(limits: &str) -> Option<i64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The boot time from `/proc/stat` (`btime 1700000000`).
fn parse_boot_time(stat: &str) -> Option<f64> {
    let line = stat.lines().find(|l| l.starts_with("btime "))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn read_figures() -> Option<ProcessFigures> {
    let (cpu_s, start_ticks) = parse_stat(&fs::read_to_string("/proc/self/stat").ok()?)?;
    let boot = fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| parse_boot_time(&s));
    Some(ProcessFigures {
        cpu_s,
        rss_bytes: fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| parse_rss(&s)),
        start_time_s: boot.map(|b| b + start_ticks / TICKS_PER_S),
        open_fds: fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| i64::try_from(d.count()).unwrap_or(i64::MAX)),
        max_fds: fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| parse_max_fds(&s)),
    })
}

/// A gauge `/proc` could give a value for; nothing otherwise.
fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: Option<impl prometheus_client::encoding::EncodeGaugeValue>,
) -> Result<(), std::fmt::Error> {
    match value {
        Some(value) => crate::metrics::gauge(encoder, name, help, value),
        None => Ok(()),
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(p) = read_figures() else {
            return Ok(());
        };
        let cpu = encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent, in seconds",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(p.cpu_s).encode(cpu)?;
        let e = &mut encoder;
        gauge(
            e,
            "process_resident_memory_bytes",
            "Resident memory, in bytes",
            p.rss_bytes,
        )?;
        gauge(e, "process_open_fds", "Open file descriptors", p.open_fds)?;
        gauge(
            e,
            "process_max_fds",
            "The limit of open file descriptors",
            p.max_fds,
        )?;
        gauge(
            e,
            "process_start_time_seconds",
            "When the process started (Unix seconds)",
            p.start_time_s,
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let stat =
            "42 (my (odd) cmd) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 12345 1000 200";
        let (cpu, start) = parse_stat(stat).unwrap();
        assert_eq!(cpu, 3.0);
        assert_eq!(start, 12345.0);
    }

    #[test]
    fn rss_and_limits_are_read_from_their_lines() {
        assert_eq!(
            parse_rss("Name:\tx\nVmRSS:\t  2048 kB\n"),
            Some(2048 * 1024)
        );
        let limits = "Limit Soft Hard Units\nMax open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024));
        assert_eq!(parse_boot_time("cpu 1 2\nbtime 1700000000\n"), Some(1.7e9));
    }

    #[test]
    fn this_process_reports_its_memory_and_descriptors() {
        let p = read_figures().unwrap();
        assert!(p.rss_bytes.unwrap() > 0);
        assert!(p.open_fds.unwrap() > 0);
        assert!(p.max_fds.unwrap() >= p.open_fds.unwrap());
        assert!(p.start_time_s.unwrap() > 1.5e9);
    }
}
