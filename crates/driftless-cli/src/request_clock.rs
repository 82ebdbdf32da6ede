//! The time this host signs its requests with: Unix milliseconds, never the same twice
//! and never going back, across every driftless process on this state directory. The
//! control plane accepts a signed request only if it is newer than the last one it
//! accepted from the install, so a captured request cannot be replayed; this clock is
//! what keeps the host's own requests (a sync, then a self-update download in the same
//! millisecond, or the agent and a `registry-login` at once) from looking like replays.

use anyhow::{Context as _, Result};
use std::fs;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::state::StateDir;

/// `keys/request-clock`: the last time this install signed a request with.
fn clock_path(dir: &StateDir) -> PathBuf {
    dir.root().join("keys").join("request-clock")
}

/// The time to sign the next request with: now, or one past the last time used if the
/// wall clock has not moved past it (same millisecond, or stepped back).
pub fn next_request_ms(dir: &StateDir) -> Result<i64> {
    let path = clock_path(dir);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // Held for one read and one write; the lock goes with the file at return.
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .with_context(|| format!("cannot lock {}", path.display()))?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    // An unreadable value (a crash between truncating and writing) falls back to the
    // wall clock, which the control plane still checks against what it accepted.
    let last = text.trim().parse::<i64>().unwrap_or(0);
    let next = after(last, wall_clock_ms());
    file.seek(SeekFrom::Start(0))?;
    file.set_len(0)?;
    file.write_all(next.to_string().as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_data()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(next)
}

/// The next time after `last`: the wall clock when it is ahead, else `last + 1`.
fn after(last: i64, wall_ms: i64) -> i64 {
    wall_ms.max(last.saturating_add(1))
}

/// Unix milliseconds now.
fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_time_follows_the_wall_clock_and_never_repeats_or_goes_back() {
        assert_eq!(after(0, 1_700_000_000_000), 1_700_000_000_000);
        assert_eq!(
            after(1_700_000_000_000, 1_700_000_000_000),
            1_700_000_000_001
        );
        // The wall clock stepped back a minute: keep counting from the last time.
        assert_eq!(
            after(1_700_000_060_000, 1_700_000_000_000),
            1_700_000_060_001
        );
    }

    #[test]
    fn requests_signed_in_a_burst_and_from_threads_all_get_distinct_rising_times() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path());
        fs::create_dir_all(tmp.path().join("keys")).unwrap();
        let burst: Vec<i64> = (0..50).map(|_| next_request_ms(&dir).unwrap()).collect();
        assert!(burst.windows(2).all(|w| w[0] < w[1]), "{burst:?}");

        let threads: Vec<_> = (0..8)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    (0..20)
                        .map(|_| next_request_ms(&dir).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<i64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "two requests got the same time");
        assert!(all[0] > burst[burst.len() - 1]);
    }
}
