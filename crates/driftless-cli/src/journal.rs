//! The journal: the step a sync is in, written before each step so that a sync
//! interrupted anywhere (power cut, kill -9) is noticed by the next one, which then
//! converges from wherever the host is. Debug builds also accept a crash point, to
//! prove that in tests.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::fs;

use crate::files::{write_atomic, write_atomic_volatile};
use crate::state::StateDir;

/// Names the step at which a debug build aborts itself: `after-pull`, `after-render`,
/// `after-snapshot`, `after-pre-upgrade`, `mid-up`, `before-switch` or `before-report`. Ignored by release builds.
pub const CRASH_AT_ENV: &str = "DRIFTLESS_CRASH_AT";

/// Debug builds only: the free disk bytes a sync believes it has (tests of the disk check).
pub const FREE_DISK_ENV: &str = "DRIFTLESS_TEST_FREE_DISK_BYTES";

/// The steps of an apply, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Documents verified and stored.
    Verified,
    /// Every image is present.
    Pulled,
    /// The compose and env files are written.
    Rendered,
    /// The data volumes are being snapshotted (the app is stopped).
    Snapshot,
    /// The release's `pre_upgrade` jobs are running.
    PreUpgrade,
    /// `compose up` is running.
    Up,
    /// The release's `post_upgrade` jobs are running.
    PostUpgrade,
    /// The data volumes are being restored from the snapshot.
    Restore,
    /// Healthy; `current` is being switched.
    Switching,
    /// Switched; the outcome is being reported.
    Reporting,
}

/// What the journal holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// The step in progress.
    pub step: Step,
    /// The release being applied.
    pub version: String,
    /// Unix seconds the step began.
    pub at: i64,
}

impl Step {
    /// Whether the host's containers or `current` may change during this step. Steps
    /// before that are journaled without fsync: a power cut that loses them loses
    /// nothing the next sync would not redo, and a converged sync passes through
    /// all of them.
    fn changes_what_runs(self) -> bool {
        !matches!(self, Step::Verified | Step::Pulled | Step::Rendered)
    }
}

/// Records that `step` of applying `version` begins.
pub fn begin(dir: &StateDir, step: Step, version: &str) -> Result<()> {
    let entry = Entry {
        step,
        version: version.to_string(),
        at: crate::now(),
    };
    let bytes = serde_json::to_vec(&entry)?;
    if step.changes_what_runs() {
        write_atomic(&dir.journal_path(), &bytes, false)
    } else {
        write_atomic_volatile(&dir.journal_path(), &bytes)
    }
}

/// The journal left by an interrupted sync, if any.
pub fn interrupted(dir: &StateDir) -> Option<Entry> {
    fs::read(dir.journal_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Clears the journal after a sync that ran to its end.
pub fn finish(dir: &StateDir) {
    let _ = fs::remove_file(dir.journal_path());
}

/// Aborts the process here when a debug build was asked to crash at `point`.
pub fn crash_point(point: &str) {
    if cfg!(debug_assertions) && std::env::var(CRASH_AT_ENV).is_ok_and(|p| p == point) {
        eprintln!("crash point {point}: aborting as asked by {CRASH_AT_ENV}");
        std::process::abort();
    }
}

/// Whether a debug build was asked to crash at `point` (for steps that must do part
/// of their work first).
pub fn crash_requested(point: &str) -> bool {
    cfg!(debug_assertions) && std::env::var(CRASH_AT_ENV).is_ok_and(|p| p == point)
}
