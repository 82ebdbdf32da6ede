//! `driftless sync`: one check-in, then converge the host on what it was assigned.
//!
//! repair a hand-edited config → check in → verify → store the verified documents and
//! raise the trust counters → apply (see [`crate::apply`]) → report. A failure before
//! `compose up` leaves the running app untouched; a failed health check brings the
//! previous release back. Every step is journaled, so an interrupted sync is noticed
//! and the next one converges from wherever the host is.

use anyhow::{anyhow, Context as _, Result};
use driftless_client::{CheckinOutcome, InstallClient};
use driftless_exit::HintExt as _;
use driftless_runtime::{ContainerRuntime, DockerRuntime};
use driftless_trust::{verify_assignment, verify_release};
use driftless_wire::checkin::{CheckinRequest, RegistryAccess};
use driftless_wire::status::{InstallStatus, Reason, ReasonCode};
use ed25519_dalek::SigningKey;

use crate::bundle::BundleSync;
use crate::journal;
use crate::progress::Progress;
use crate::reason::CliTooOld;
use crate::state::{Config, FailedRelease, StateDir, SyncRecord};
use crate::{now, platform, CLI_VERSION};

/// The control plane answered 429 or 503: try again after this many seconds.
#[derive(Debug)]
pub struct ServerBusy {
    /// Seconds the server asked to wait (its `Retry-After`).
    pub retry_after_s: u64,
}

impl std::fmt::Display for ServerBusy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the control plane is busy (the running app was not touched)")
    }
}

impl std::error::Error for ServerBusy {}

/// What a sync did.
pub struct SyncOutcome {
    /// When the control plane wants the next check-in, in seconds, if it said.
    pub next_checkin_s: Option<u64>,
    /// The version the host runs now, if any.
    pub version: Option<String>,
    /// Whether containers were (re)created.
    pub changed: bool,
    /// What was found drifted and repaired.
    pub repaired: Vec<String>,
    /// A note for the user (e.g. the channel has no release yet, waiting for a wave).
    pub message: Option<String>,
}

/// Everything one sync works with.
pub struct Ctx<'a> {
    /// The state directory.
    pub dir: &'a StateDir,
    /// `config.toml`.
    pub config: Config,
    pub(crate) key: SigningKey,
    pub(crate) client: InstallClient,
    /// The container runtime.
    pub runtime: DockerRuntime,
    /// How progress is shown.
    pub progress: Progress,
    /// What this sync's check-in told the control plane, when it answered 304.
    told_on_304: std::sync::Mutex<Option<serde_json::Value>>,
    /// Why the control plane's audit checkpoint was refused, if it was: the sync goes
    /// on and fails with it at the end (see [`crate::audit_witness`]).
    witness_refusal: std::sync::Mutex<Option<anyhow::Error>>,
}

impl Ctx<'_> {
    /// Witnesses the audit checkpoint a check-in answer named, keeping a refusal.
    async fn witness(&self, offered: Option<u64>) {
        if let Err(e) = crate::audit_witness::witness(self, offered).await {
            if let Ok(mut refusal) = self.witness_refusal.lock() {
                *refusal = Some(e);
            }
        }
    }

    /// `outcome`, unless the audit checkpoint was refused during the sync.
    fn witnessed(&self, outcome: SyncOutcome) -> Result<SyncOutcome> {
        match self.witness_refusal.lock().ok().and_then(|mut r| r.take()) {
            Some(refusal) => Err(refusal),
            None => Ok(outcome),
        }
    }
}

impl<'a> Ctx<'a> {
    /// Everything a command working on the install needs: its config, key, a client of
    /// its control plane and the container runtime.
    pub async fn open(dir: &'a StateDir, progress: Progress) -> Result<Ctx<'a>> {
        let config = dir.load_config()?;
        let key = dir.load_key()?;
        let client = crate::run_trace::client(&config.server)?;
        let runtime = DockerRuntime::connect().await?;
        Ok(Ctx {
            dir,
            config,
            key,
            client,
            runtime,
            progress,
            told_on_304: std::sync::Mutex::default(),
            witness_refusal: std::sync::Mutex::default(),
        })
    }
}

/// Arguments of `driftless sync`.
#[derive(clap::Args)]
pub struct SyncArgs {
    /// Converge on the release in this air-gap bundle instead of checking in (the
    /// bundle is verified like a check-in's answer; nothing reaches the vendor).
    #[arg(long, value_name = "FILE")]
    bundle: Option<std::path::PathBuf>,
    /// Push the bundle's verified images into this registry (host:port) of your own
    /// and have the engine pull them from there.
    #[arg(long, value_name = "HOST", requires = "bundle")]
    registry: Option<String>,
    /// An air-gapped install goes online: register this host (its key, trust state
    /// and running release kept) with the control plane at URL, then sync from it.
    #[arg(long, value_name = "URL", conflicts_with = "bundle")]
    server: Option<String>,
    /// The license key, from FILE (or DRIFTLESS_LICENSE): needed by `--server`, and by
    /// `--bundle` on an install that was online.
    #[arg(long, value_name = "FILE")]
    license_file: Option<std::path::PathBuf>,
}

/// Runs `driftless sync`: one sync, then one line on stderr saying what changed.
pub async fn run_command(dir: &StateDir, args: SyncArgs) -> Result<()> {
    // `--server` needs the key; `--bundle` only on an install that is online.
    let license = match (&args.server, &args.license_file) {
        (Some(_), _) | (None, Some(_)) => Some(crate::install::license_key(
            None,
            args.license_file.as_deref(),
        )?),
        (None, None) => std::env::var(crate::env::LICENSE).ok(),
    };
    if let (Some(server), Some(license)) = (&args.server, &license) {
        crate::mode_switch::go_online(dir, server, license).await?;
    }
    let bundle = args.bundle.as_deref().map(|file| BundleSync {
        file,
        registry: args.registry.as_deref(),
        license: license.as_deref(),
    });
    let out = sync_from(dir, Progress::detect(), bundle).await?;
    for r in &out.repaired {
        eprintln!("repaired: {r}");
    }
    if let Some(w) = dir.load_sync().waiting {
        let running = out.version.as_deref().unwrap_or("nothing yet");
        let tz = crate::policy::host_time_zone();
        eprintln!("running {running}; {}", w.describe(&tz));
        return Ok(());
    }
    match (&out.version, out.changed) {
        (Some(v), true) => eprintln!("converged on {v}"),
        (Some(v), false) => eprintln!("already converged on {v}; nothing changed"),
        (None, _) => eprintln!(
            "{}",
            out.message.unwrap_or_else(|| "nothing to run yet".into())
        ),
    }
    // What the control plane says besides (a license in its grace period, a
    // deprecated release) is shown, not only kept for `status`.
    if let (Some(_), Some(notice)) = (&out.version, dir.load_sync().notice) {
        eprintln!("warning: {notice}");
    }
    Ok(())
}

/// Runs one sync. On failure the status and reason are recorded and reported.
pub async fn sync(dir: &StateDir, progress: Progress) -> Result<SyncOutcome> {
    sync_from(dir, progress, None).await
}

/// Runs one sync from the control plane, or from an air-gap bundle when `bundle` is given.
pub async fn sync_from(
    dir: &StateDir,
    progress: Progress,
    bundle: Option<BundleSync<'_>>,
) -> Result<SyncOutcome> {
    let mut repaired = Vec::new();
    let _lock = if dir.is_installed() {
        Some(dir.lock()?)
    } else {
        None
    };
    if dir.is_installed() {
        if let Some(note) = dir.repair_config(now())? {
            eprintln!("repaired: {note}");
            repaired.push(note);
        }
    }
    let config = dir.load_config()?;
    let air_gapped = config.server == crate::bundle::AIRGAP_SERVER;
    if air_gapped && bundle.is_none() {
        return Err(driftless_exit::Coded(
            driftless_exit::code::USAGE,
            "this install is air-gapped: it has no control plane to check in with".into(),
        ))
        .hint("run `driftless sync --bundle FILE` with the bundle your vendor gave you, or go online with `driftless sync --server URL --license-file FILE`");
    }
    let key = dir.load_key()?;
    let client = crate::run_trace::client(&config.server)?;
    let mut record = dir.load_sync();
    record.last_sync = Some(now());
    record.last_trace_id = Some(crate::run_trace::current().to_string());
    if let Some(j) = journal::interrupted(dir) {
        eprintln!(
            "the previous sync was interrupted while applying {} (step {:?}); converging from here",
            j.version, j.step
        );
    }
    let runtime = match DockerRuntime::connect().await {
        Ok(r) => r,
        Err(e) => {
            let e = anyhow::Error::new(e);
            record_failure(dir, &mut record, &e);
            return Err(e);
        }
    };
    let ctx = Ctx {
        dir,
        config,
        key,
        client,
        runtime,
        progress,
        told_on_304: std::sync::Mutex::default(),
        witness_refusal: std::sync::Mutex::default(),
    };
    let converged = converge(&ctx, &mut record, &mut repaired, bundle).await;
    match converged.and_then(|outcome| ctx.witnessed(outcome)) {
        Ok(mut outcome) => {
            record.status = outcome.version.as_ref().map(|_| InstallStatus::Converged);
            record.reason = if !repaired.is_empty() {
                Some(Reason {
                    code: ReasonCode::DriftRepaired,
                    detail: repaired.join("; "),
                    check: None,
                })
            } else {
                record.reason.take().filter(|r| {
                    matches!(
                        r.code,
                        ReasonCode::WaitingForWave
                            | ReasonCode::WaitingForApproval
                            | ReasonCode::WaitingForWindow
                            | ReasonCode::RolledBackByCustomer
                    )
                })
            };
            record.last_repair = (!repaired.is_empty()).then(|| repaired.join("; "));
            record.target_version = None;
            record.last_error = None;
            dir.save_sync(&record)?;
            let already_told =
                !outcome.changed && repaired.is_empty() && already_told(&ctx, &record);
            if let (Some(v), false) = (&outcome.version, already_told) {
                journal::begin(dir, journal::Step::Reporting, v)?;
            }
            journal::crash_point("before-report");
            if !already_told && !air_gapped {
                report(&ctx, &record).await;
            }
            journal::finish(dir);
            outcome.repaired = repaired;
            Ok(outcome)
        }
        Err(e) => {
            record_failure(dir, &mut record, &e);
            journal::finish(dir);
            // When the check-in itself failed, a second one would only fail again.
            if !air_gapped && !e.chain().any(|c| c.is::<driftless_client::ClientError>()) {
                report(&ctx, &record).await;
            }
            Err(e)
        }
    }
}

fn record_failure(dir: &StateDir, record: &mut SyncRecord, e: &anyhow::Error) {
    let reason = crate::reason::of(e);
    record.status = Some(InstallStatus::Failed(format!(
        "{}: {}",
        reason.code.name(),
        reason.detail.chars().take(300).collect::<String>()
    )));
    record.last_error = Some(driftless_exit::one_line(e));
    record.reason = Some(reason);
    let _ = dir.save_sync(record);
}

fn checkin_request(ctx: &Ctx<'_>, record: &SyncRecord, free: Option<u64>) -> CheckinRequest {
    let current = ctx.dir.current_version();
    let counter = current
        .as_deref()
        .and_then(|v| ctx.dir.load_verified(v).ok())
        .map(|(_, r, _)| r.release_counter);
    CheckinRequest {
        release_counter: counter,
        version: current,
        status: record.status.clone().unwrap_or(InstallStatus::New),
        cli_version: CLI_VERSION.to_string(),
        platform: platform(),
        free_disk_bytes: free.map(reported_free_disk),
        target_version: record.target_version.clone(),
        reason: record.reason.clone(),
        policy: Some(ctx.config.policy.to_string()),
        waiting: record.waiting.as_ref().map(crate::policy::Waiting::to_wire),
    }
}

/// The grain of the free disk space a check-in reports (256 MiB).
const FREE_DISK_GRAIN: u64 = 256 << 20;

/// `free` rounded down to [`FREE_DISK_GRAIN`]: precise enough for the fleet view, and
/// steady between check-ins, so a converged host sends the same body each time and is
/// answered from the control plane's memory (a body that differs is written to the
/// database before its answer).
fn reported_free_disk(free: u64) -> u64 {
    free - free % FREE_DISK_GRAIN
}

/// What a check-in tells the control plane about the host, without the free disk space
/// (which moves between two requests of one sync without meaning anything).
fn told(req: &CheckinRequest) -> Option<serde_json::Value> {
    let mut value = serde_json::to_value(req).ok()?;
    value.as_object_mut()?.remove("free_disk_bytes");
    Some(value)
}

/// Whether this sync's check-in, answered 304, already told the control plane what a
/// report would: then the report is left out, so a converged sync makes one request.
fn already_told(ctx: &Ctx<'_>, record: &SyncRecord) -> bool {
    let Ok(told_on_304) = ctx.told_on_304.lock() else {
        return false;
    };
    told_on_304.is_some() && *told_on_304 == told(&checkin_request(ctx, record, None))
}

/// Tells the control plane how the sync ended; a failure here is only a warning.
pub async fn report(ctx: &Ctx<'_>, record: &SyncRecord) {
    let free = ctx.runtime.free_disk_bytes().await.ok().flatten();
    let req = checkin_request(ctx, record, free);
    let res = async {
        let etag = record.etag.as_deref();
        let id = &ctx.config.install_id;
        crate::checkin_session::checkin(ctx.dir, &ctx.client, id, &ctx.key, &req, etag, now())
            .await?;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = res {
        eprintln!("warning: could not report the outcome to the control plane: {e}");
    }
}

/// What a check-in gave: the version to run, registry access when the server sent it,
/// and when to check in next.
pub(crate) struct Assigned {
    /// The assigned version.
    pub version: String,
    access: Option<RegistryAccess>,
    next_checkin_s: Option<u64>,
    /// The loopback registry serving an air-gap bundle, while the release is applied.
    _serving: Option<driftless_bundle::LoopbackRegistry>,
}

/// Checks in; returns `None` when nothing is assigned yet. A release that needs a newer
/// CLI updates this one and re-executes it when `self_update`, else is refused.
pub(crate) async fn check_in(
    ctx: &Ctx<'_>,
    record: &mut SyncRecord,
    use_etag: bool,
    self_update: bool,
) -> Result<Option<Assigned>> {
    let free = ctx.runtime.free_disk_bytes().await.ok().flatten();
    let req = checkin_request(ctx, record, free);
    let etag = if use_etag { record.etag.clone() } else { None };
    let now = now();
    let outcome = crate::checkin_session::checkin(
        ctx.dir,
        &ctx.client,
        &ctx.config.install_id,
        &ctx.key,
        &req,
        etag.as_deref(),
        now,
    )
    .await
    .context("check-in failed; the running app was not touched")?;
    record.last_checkin = Some(now);
    let (response, etag) = match outcome {
        CheckinOutcome::NotModified {
            root_version,
            audit_checkpoint_size,
        } => {
            if let Ok(mut told_on_304) = ctx.told_on_304.lock() {
                *told_on_304 = told(&req);
            }
            walk_roots(ctx, root_version, now).await?;
            ctx.witness(audit_checkpoint_size).await;
            let version = record
                .assigned_version
                .clone()
                .ok_or_else(|| {
                    anyhow!("the control plane answered 304 but this host holds no assignment")
                })
                .hint("run `driftless sync` again")?;
            return Ok(Some(Assigned {
                version,
                access: None,
                next_checkin_s: record.next_checkin_s,
                _serving: None,
            }));
        }
        CheckinOutcome::RetryAfter(s) => {
            return Err(ServerBusy { retry_after_s: s }).hint(format!("try again in {s}s"))
        }
        CheckinOutcome::Updated {
            response,
            etag,
            root_version,
            audit_checkpoint_size,
        } => {
            walk_roots(ctx, root_version, now).await?;
            ctx.witness(audit_checkpoint_size).await;
            (response, etag)
        }
    };
    record.notice = response.message.clone();
    record.next_checkin_s = Some(response.next_checkin_s);
    record.reason = response.pending.clone();
    let (Some(a_env), Some(r_env)) = (&response.assignment, &response.release) else {
        return Ok(None);
    };
    let trust = ctx.dir.load_trust()?;
    let assignment = verify_assignment(&trust, &ctx.config.install_id, a_env, now)?;
    let verified = verify_release(&trust, &assignment, r_env, now)?;
    let cli: semver::Version = CLI_VERSION.parse()?;
    if verified.release.min_cli_version > cli {
        if !self_update {
            return Err(CliTooOld(format!(
                "release {} needs driftless {} or newer, this is {CLI_VERSION}",
                verified.release.version, verified.release.min_cli_version
            ))
            .into());
        }
        return Err(update_cli_for(ctx, &verified.release).await);
    }
    let version = verified.release.version.to_string();
    ctx.dir.save_verified(&version, a_env, r_env)?;
    ctx.dir.save_trust(&verified.next_state)?;
    record.etag = etag;
    record.assigned_version = Some(version.clone());
    ctx.dir.save_sync(record)?;
    Ok(Some(Assigned {
        version,
        access: response.registry.clone(),
        next_checkin_s: Some(response.next_checkin_s),
        _serving: None,
    }))
}

/// The release needs a newer CLI: install the build it offers for this platform and
/// re-execute it with the same arguments, so the sync completes under the new CLI.
/// Returns only on failure: [`CliTooOld`], with the self-update's error as its cause.
async fn update_cli_for(
    ctx: &Ctx<'_>,
    release: &driftless_wire::release::ReleaseDocument,
) -> anyhow::Error {
    let too_old = format!(
        "release {} needs driftless {} or newer, this is {CLI_VERSION}",
        release.version, release.min_cli_version
    );
    let binary = crate::self_update::offered(release)
        .filter(|b| b.version >= release.min_cli_version)
        // A CLI this very sync installed is not replaced again (no exec loop).
        .filter(|_| std::env::var_os(crate::env::SELF_UPDATED).is_none());
    let Some(binary) = binary else {
        return anyhow::Error::new(CliTooOld(format!(
            "{too_old} (the running app was not touched)"
        )))
        .context(driftless_exit::Hint("update the CLI".into()));
    };
    eprintln!("{too_old}; updating this CLI to {}", binary.version);
    let key = &ctx.key;
    let id = &ctx.config.install_id;
    match crate::self_update::update_to(&ctx.client, ctx.dir, id, key, binary, false).await {
        Ok(done) => {
            eprintln!(
                "updated {} to driftless {} (the previous binary is {}); continuing under it",
                done.exe.display(),
                done.version,
                done.prev.display()
            );
            crate::self_update::reexec(&done.exe)
        }
        Err(e) => e.context(CliTooOld(format!(
            "{too_old}; the self-update to {} failed (the running app was not touched)",
            binary.version
        ))),
    }
}

/// Walks the root chain from the held root to `newest`, one version at a time, each
/// signed by a threshold of the previous root's keys and of its own; the trust state
/// is written after every step.
async fn walk_roots(ctx: &Ctx<'_>, newest: Option<u64>, now: i64) -> Result<()> {
    let Some(newest) = newest else {
        return Ok(());
    };
    let mut trust = ctx.dir.load_trust()?;
    if newest <= trust.root.version {
        return Ok(());
    }
    let steps = newest - trust.root.version;
    if steps > driftless_wire::checkin::MAX_ROOT_STEPS {
        return Err(driftless_exit::Coded(
            driftless_exit::code::VERIFICATION,
            format!(
                "the control plane offers root version {newest}, {steps} versions past the held {}; more than {} in one sync is refused",
                trust.root.version,
                driftless_wire::checkin::MAX_ROOT_STEPS
            ),
        )
        .into());
    }
    while trust.root.version < newest {
        let v = trust.root.version + 1;
        let env = ctx
            .client
            .root(v)
            .await
            .with_context(|| format!("cannot fetch root version {v}"))?;
        let next = driftless_trust::verify_root_update(&trust.root, &env, now)?;
        ctx.dir.save_root(v, &env)?;
        trust.root = next;
        ctx.dir.save_trust(&trust)?;
        eprintln!("trusting root version {v}");
    }
    Ok(())
}

/// Verifies an air-gap bundle as a check-in's answer is verified, stores its documents
/// and serves its blobs on loopback for the pull.
async fn from_bundle(
    ctx: &Ctx<'_>,
    record: &mut SyncRecord,
    source: BundleSync<'_>,
) -> Result<Assigned> {
    let file = source.file;
    let trust = ctx.dir.load_trust()?;
    let install_id = crate::bundle::install_id(&ctx.config, source.license)?;
    let checked = crate::bundle::check(&trust, &install_id, file, now(), Some(ctx.dir))?;
    let release = &checked.verified.release;
    let cli: semver::Version = CLI_VERSION.parse()?;
    if release.min_cli_version > cli {
        return Err(CliTooOld(format!(
            "release {} needs driftless {} or newer, this is {CLI_VERSION}",
            release.version, release.min_cli_version
        ))
        .into());
    }
    let version = crate::bundle::persist(ctx.dir, &checked)?;
    record.assigned_version = Some(version.clone());
    ctx.dir.save_sync(record)?;
    if let Some(host) = source.registry {
        let access = crate::bundle_push::push(&checked.bundle, release, host).await?;
        return Ok(Assigned {
            version,
            access: Some(access),
            next_checkin_s: None,
            _serving: None,
        });
    }
    let (serving, access) = crate::bundle::serve(ctx.dir, checked.bundle).await?;
    Ok(Assigned {
        version,
        access: Some(access),
        next_checkin_s: None,
        _serving: Some(serving),
    })
}

async fn converge(
    ctx: &Ctx<'_>,
    record: &mut SyncRecord,
    repaired: &mut Vec<String>,
    bundle: Option<BundleSync<'_>>,
) -> Result<SyncOutcome> {
    let assigned = match bundle {
        Some(source) => Some(from_bundle(ctx, record, source).await?),
        None => check_in(ctx, record, true, true).await?,
    };
    let Some(mut assigned) = assigned else {
        let message = record
            .notice
            .clone()
            .unwrap_or_else(|| "nothing assigned yet".into());
        return Ok(SyncOutcome {
            next_checkin_s: None,
            version: ctx.dir.current_version(),
            changed: false,
            repaired: vec![],
            message: Some(message),
        });
    };
    let version = assigned.version.clone();
    let (release_env, release, assignment) = ctx.dir.load_verified(&version)?;
    let digest = driftless_wire::Digest::of(&release_env.payload_bytes()?).to_string();
    crate::rollback::end_hold_if_reassigned(record, &digest);
    if let Some(failed) = record.failed.clone().filter(|f| f.digest == digest) {
        if failed.reason.code == ReasonCode::RolledBackByCustomer {
            return crate::rollback::stay_back(ctx, record, &failed, repaired).await;
        }
        record.target_version = Some(version.clone());
        let why = format!("release {version} is held back");
        return Err(
            anyhow::Error::new(driftless_exit::Coded(driftless_exit::code::RUNTIME, why))
                .context(HeldBack(failed)),
        );
    }
    if assigned.access.is_none()
        && (assignment.expires <= now()
            || !crate::apply::ready_offline(ctx, &release, &version).await?)
    {
        // The held documents are not enough to converge: ask again in full.
        match check_in(ctx, record, false, true).await? {
            Some(a) if a.version == version => assigned = a,
            Some(a) => {
                return Err(anyhow!(
                    "the assignment changed to {} during the sync",
                    a.version
                ))
                .hint("run `driftless sync` again")
            }
            None => {
                return Err(anyhow!("the control plane withdrew the assignment"))
                    .hint("run `driftless sync` again")
            }
        }
    }
    crate::preflight::before_pull(ctx, &release, &version).await?;
    let access = assigned.access.as_ref();
    if let Some(waits) =
        crate::policy::hold(ctx, record, &release, &version, &digest, access, repaired).await?
    {
        return Ok(waits);
    }
    journal::begin(ctx.dir, journal::Step::Verified, &version)?;
    record.target_version = Some(version.clone());
    let applied =
        crate::apply::apply(ctx, &release, &version, assigned.access.as_ref(), repaired).await;
    match applied {
        Ok(changed) => Ok(SyncOutcome {
            next_checkin_s: assigned.next_checkin_s,
            version: Some(version),
            changed,
            repaired: vec![],
            message: record
                .notice
                .clone()
                .or_else(|| record.reason.as_ref().map(|r| r.detail.clone())),
        }),
        Err(e) => {
            if crate::reason::code_of(&e) == ReasonCode::HealthFailed {
                record.failed = Some(FailedRelease {
                    version: version.clone(),
                    digest,
                    reason: crate::reason::of(&e),
                });
            }
            Err(e)
        }
    }
}

/// The assigned release already failed its health check on this host.
#[derive(Debug)]
pub struct HeldBack(pub FailedRelease);

impl std::fmt::Display for HeldBack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "release {} failed its health check on this host and is not retried until the vendor changes it: {}",
            self.0.version, self.0.reason.detail
        )
    }
}

impl std::error::Error for HeldBack {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_disk_is_reported_rounded_down_to_its_grain() {
        let gib = 1u64 << 30;
        assert_eq!(reported_free_disk(0), 0);
        assert_eq!(reported_free_disk(FREE_DISK_GRAIN - 1), 0);
        assert_eq!(reported_free_disk(10 * gib + 12_345), 10 * gib);
        // Two readings a few MB apart report the same figure.
        assert_eq!(
            reported_free_disk(10 * gib + (5 << 20)),
            reported_free_disk(10 * gib + (200 << 20))
        );
    }
}
