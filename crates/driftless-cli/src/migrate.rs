//! Migrations with a way back. A release may declare run-once jobs (`pre_upgrade`,
//! run before its services start; `post_upgrade`, once they are healthy) and the named
//! volumes that hold the app's data. Before the first job the app is stopped and every
//! data volume is snapshotted into `snapshots/` in the state dir (tar files, mode 0600);
//! when a job or the health gate fails, the project is stopped and every volume is put
//! back exactly as it was (a volume that did not exist is removed) before the previous
//! release comes back. The snapshot is kept until `current` is switched, so a sync
//! interrupted anywhere between the snapshot and the switch restores it first.

use anyhow::{anyhow, Context as _, Result};
use driftless_exit::HintExt as _;
use driftless_runtime::{ContainerRuntime, JobOutcome, RuntimeError};
use driftless_wire::release::ReleaseDocument;
use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::files::write_atomic;
use crate::journal::{self, Step};
use crate::reason::DiskFull;
use crate::state::StateDir;
use crate::sync::Ctx;

/// Debug builds only: the free bytes a sync believes the state dir has for snapshots
/// (tests of the snapshot's disk check).
pub const SNAPSHOT_FREE_ENV: &str = "DRIFTLESS_TEST_SNAPSHOT_FREE_BYTES";

/// Bytes the state dir's filesystem keeps free after a snapshot.
const SNAPSHOT_RESERVE: u64 = 64 * 1024 * 1024;
/// The snapshot's manifest inside [`snapshot_dir`].
const MANIFEST: &str = "snapshot.json";
/// The last job's outcome, in the state dir.
const LAST_JOB: &str = "last-job.json";

/// When a job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the release's services start.
    PreUpgrade,
    /// Once they are healthy.
    PostUpgrade,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::PreUpgrade => "pre_upgrade",
            Phase::PostUpgrade => "post_upgrade",
        })
    }
}

/// The outcome of the last job run on this host (`status` shows it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobRecord {
    /// The release whose job it was.
    pub release: String,
    /// When it ran.
    pub phase: Phase,
    /// The compose service run.
    pub service: String,
    /// Its exit code; `null` when it was stopped at its timeout.
    pub exit_code: Option<i64>,
    /// Whether it ran past the release's job timeout.
    pub timed_out: bool,
    /// Its last log lines.
    pub log_tail: String,
    /// Unix seconds it ended.
    pub at: i64,
}

/// A job that did not exit 0.
#[derive(Debug)]
pub struct JobFailed(pub JobRecord);

impl std::fmt::Display for JobFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let j = &self.0;
        let ended = match (j.timed_out, j.exit_code) {
            (true, _) | (false, None) => "ran past its timeout and was stopped".to_string(),
            (false, Some(code)) => format!("exited with code {code}"),
        };
        let logs: Vec<&str> = j
            .log_tail
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        write!(
            f,
            "{} job {} of release {} {ended}; last log lines: {}",
            j.phase,
            j.service,
            j.release,
            if logs.is_empty() {
                "(nothing)".to_string()
            } else {
                logs.join(" | ")
            }
        )
    }
}

impl std::error::Error for JobFailed {}

/// What the snapshot holds, written before the first volume and completed after the last.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// The release being applied when it was taken.
    for_version: String,
    /// The release `current` named then (whose data it holds).
    from_version: Option<String>,
    /// The image the helper containers are created from (on the host: no pull).
    helper_image: String,
    /// Every data volume.
    volumes: Vec<SavedVolume>,
    /// Whether every volume was saved.
    complete: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedVolume {
    /// Its key in the compose file.
    key: String,
    /// The engine's name, when it existed.
    name: Option<String>,
    /// Its tar inside the snapshot dir, when it existed.
    file: Option<String>,
}

fn snapshot_dir(dir: &StateDir) -> PathBuf {
    dir.root().join("snapshots")
}

fn load_manifest(dir: &StateDir) -> Option<Manifest> {
    fs::read(snapshot_dir(dir).join(MANIFEST))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

fn save_manifest(dir: &StateDir, m: &Manifest) -> Result<()> {
    write_atomic(
        &snapshot_dir(dir).join(MANIFEST),
        &serde_json::to_vec_pretty(m)?,
        true,
    )
}

/// Removes the snapshot (after the switch, or once it was restored).
pub fn discard(dir: &StateDir) {
    let path = snapshot_dir(dir);
    if path.exists() {
        if let Err(e) = fs::remove_dir_all(&path) {
            eprintln!("warning: could not remove {}: {e}", path.display());
        }
    }
}

/// The last job run on this host, if any.
pub fn last_job(dir: &StateDir) -> Option<JobRecord> {
    fs::read(dir.root().join(LAST_JOB))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Whether applying `version` runs the release's jobs: it declares some, and it is an
/// upgrade (or the first install), not a repair of the release already running.
pub fn applies(ctx: &Ctx<'_>, release: &ReleaseDocument, version: &str) -> bool {
    !release.migrations.is_empty() && ctx.dir.current_version().as_deref() != Some(version)
}

/// Restores the snapshot an interrupted sync left between its snapshot and its switch,
/// so the data is again the running release's before anything else happens.
pub async fn recover(ctx: &Ctx<'_>) -> Result<()> {
    let Some(m) = load_manifest(ctx.dir) else {
        discard(ctx.dir);
        return Ok(());
    };
    let current = ctx.dir.current_version();
    if !m.complete
        || current.as_deref() == Some(m.for_version.as_str())
        || m.from_version != current
    {
        // Incomplete: no job ran yet, the data is untouched. Switched: the migration
        // succeeded. Another release running: the snapshot is not its data.
        discard(ctx.dir);
        return Ok(());
    }
    eprintln!(
        "a sync was interrupted while migrating to {}; restoring the data volumes from the snapshot taken before it",
        m.for_version
    );
    restore(ctx).await
}

/// Stops the app, then snapshots every data volume of `release` into the state dir.
pub async fn snapshot(ctx: &Ctx<'_>, release: &ReleaseDocument, version: &str) -> Result<()> {
    journal::begin(ctx.dir, Step::Snapshot, version)?;
    let mut budget = snapshot_budget(ctx.dir)?;
    stop_project(ctx).await?;
    discard(ctx.dir);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(snapshot_dir(ctx.dir))
        .with_context(|| format!("cannot create {}", snapshot_dir(ctx.dir).display()))?;
    let mut m = Manifest {
        for_version: version.to_string(),
        from_version: ctx.dir.current_version(),
        helper_image: helper_image(ctx, release, version)?,
        volumes: Vec::new(),
        complete: false,
    };
    save_manifest(ctx.dir, &m)?;
    for key in &release.migrations.data_volumes {
        let name = ctx.runtime.find_volume(&ctx.config.project, key).await?;
        let file = match &name {
            Some(n) => {
                let file = format!("{key}.tar");
                let path = snapshot_dir(ctx.dir).join(&file);
                eprintln!("snapshotting volume {n} into {}", path.display());
                let written = ctx
                    .runtime
                    .snapshot_volume(n, &m.helper_image, &path, budget)
                    .await
                    .map_err(|e| match e {
                        e @ RuntimeError::SnapshotTooLarge { .. } => disk_full(e.to_string()),
                        e => anyhow::Error::new(e),
                    })
                    .hint("free space in the state dir, then run `driftless sync` again")?;
                budget = budget.saturating_sub(written);
                Some(file)
            }
            None => None,
        };
        m.volumes.push(SavedVolume {
            key: key.clone(),
            name,
            file,
        });
    }
    m.complete = true;
    save_manifest(ctx.dir, &m)
}

/// Bytes the snapshot may take: free space on the state dir's filesystem, less a
/// reserve. Refuses (nothing stopped yet) when there is none.
fn snapshot_budget(dir: &StateDir) -> Result<u64> {
    let free = test_free_bytes().unwrap_or_else(|| {
        rustix::fs::statvfs(dir.root())
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .unwrap_or(u64::MAX)
    });
    let budget = free.saturating_sub(SNAPSHOT_RESERVE);
    if budget == 0 {
        return Err(disk_full(format!(
            "the state dir {} has {free} bytes free, too few to snapshot the data volumes (the running app was not touched)",
            dir.root().display()
        )))
        .hint("free some space and run `driftless sync` again");
    }
    Ok(budget)
}

/// A [`DiskFull`] error with its exit code.
fn disk_full(why: String) -> anyhow::Error {
    anyhow::Error::new(DiskFull(why)).context(driftless_exit::Coded(
        driftless_exit::code::DISK_FULL,
        "not enough disk space for the snapshot of the data volumes".into(),
    ))
}

fn test_free_bytes() -> Option<u64> {
    if !cfg!(debug_assertions) {
        return None;
    }
    std::env::var(SNAPSHOT_FREE_ENV).ok()?.parse().ok()
}

/// The first non-job image of the release, as the host runs it: already pulled.
fn helper_image(ctx: &Ctx<'_>, release: &ReleaseDocument, version: &str) -> Result<String> {
    let host = fs::read_to_string(ctx.dir.release_dir(version).join("registry"))?;
    let image = release
        .images
        .iter()
        .find(|i| !release.migrations.is_job(&i.service))
        .or(release.images.first())
        .ok_or_else(|| anyhow!("release {version} has no image"))?;
    Ok(crate::drift::image_ref(host.trim(), image))
}

/// Removes every container of the project (volumes stay), so nothing writes to the
/// data volumes while they are saved or restored.
async fn stop_project(ctx: &Ctx<'_>) -> Result<()> {
    for c in ctx.runtime.project_containers(&ctx.config.project).await? {
        ctx.runtime.remove_container(&c.id).await?;
    }
    Ok(())
}

/// Runs the release's jobs of `phase` in order; the first that fails stops the rest.
pub async fn run_jobs(
    ctx: &Ctx<'_>,
    release: &ReleaseDocument,
    version: &str,
    dir: &Path,
    phase: Phase,
) -> Result<()> {
    let (jobs, step) = match phase {
        Phase::PreUpgrade => (&release.migrations.pre_upgrade, Step::PreUpgrade),
        Phase::PostUpgrade => (&release.migrations.post_upgrade, Step::PostUpgrade),
    };
    if jobs.is_empty() {
        return Ok(());
    }
    journal::begin(ctx.dir, step, version)?;
    let timeout = Duration::from_secs(release.migrations.job_timeout_s());
    for service in jobs {
        eprintln!("running {phase} job {service} of {version}");
        let outcome = ctx
            .runtime
            .run_job(
                &ctx.config.project,
                &dir.join("compose.yaml"),
                &dir.join("app.env"),
                service,
                timeout,
            )
            .await?;
        let record = record_job(ctx.dir, version, phase, &outcome)?;
        if !outcome.succeeded() {
            return Err(JobFailed(record).into());
        }
    }
    Ok(())
}

fn record_job(
    dir: &StateDir,
    version: &str,
    phase: Phase,
    outcome: &JobOutcome,
) -> Result<JobRecord> {
    let record = JobRecord {
        release: version.to_string(),
        phase,
        service: outcome.service.clone(),
        exit_code: outcome.exit_code,
        timed_out: outcome.timed_out,
        log_tail: outcome.log_tail.clone(),
        at: crate::now(),
    };
    // Logs may hold what the app printed: private, like the env file.
    write_atomic(
        &dir.root().join(LAST_JOB),
        &serde_json::to_vec_pretty(&record)?,
        true,
    )?;
    Ok(record)
}

/// Stops the project and puts every data volume back as the snapshot saw it, then
/// discards the snapshot. On failure the snapshot is kept, so the next sync retries.
pub async fn restore(ctx: &Ctx<'_>) -> Result<()> {
    let Some(m) = load_manifest(ctx.dir) else {
        return Ok(());
    };
    journal::begin(ctx.dir, Step::Restore, &m.for_version)?;
    stop_project(ctx).await?;
    for v in &m.volumes {
        match (&v.name, &v.file) {
            (Some(name), Some(file)) => {
                eprintln!("restoring volume {name} from the snapshot");
                ctx.runtime
                    .restore_volume(name, &m.helper_image, &snapshot_dir(ctx.dir).join(file))
                    .await?;
            }
            _ => {
                // It did not exist before the upgrade: whatever the new release put there goes.
                if let Some(name) = ctx.runtime.find_volume(&ctx.config.project, &v.key).await? {
                    eprintln!("removing volume {name}, which the failed release created");
                    ctx.runtime.remove_volume(&name).await?;
                }
            }
        }
    }
    discard(ctx.dir);
    Ok(())
}
