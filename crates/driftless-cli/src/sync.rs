//! `driftless sync`: one check-in, then converge the host on what it was assigned.
//!
//! verify → store the verified documents and raise the trust counters → check disk →
//! pull every missing image by digest → fetch and verify the descriptor → render →
//! `compose up` → wait for health → switch `current` → report. A failure before
//! `compose up` leaves the running app untouched.

use anyhow::{anyhow, bail, Context as _, Result};
use driftless_client::{CheckinOutcome, InstallClient};
use driftless_descriptor::{render_env_file, render_for_host, verify_against_release};
use driftless_oci::RegistryClient;
use driftless_runtime::{ContainerRuntime, DockerRuntime};
use driftless_trust::{verify_assignment, verify_release};
use driftless_wire::checkin::{CheckinRequest, RegistryAccess};
use driftless_wire::release::ReleaseDocument;
use driftless_wire::status::InstallStatus;
use ed25519_dalek::SigningKey;
use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::files::write_atomic;
use crate::progress::Progress;
use crate::state::{Config, StateDir, SyncRecord};
use crate::{now, platform, CLI_VERSION};

/// What a sync did.
pub struct SyncOutcome {
    /// The version the host runs now, if any.
    pub version: Option<String>,
    /// Whether containers were (re)created.
    pub changed: bool,
    /// A note for the user (e.g. the channel has no release yet).
    pub message: Option<String>,
}

struct Ctx<'a> {
    dir: &'a StateDir,
    config: Config,
    key: SigningKey,
    client: InstallClient,
    runtime: DockerRuntime,
    progress: Progress,
}

/// Runs one sync. On failure the status is recorded and reported, best effort.
pub async fn sync(dir: &StateDir, progress: Progress) -> Result<SyncOutcome> {
    let config = dir.load_config()?;
    let key = dir.load_key()?;
    let client = InstallClient::new(&config.server)?;
    let mut record = dir.load_sync();
    record.last_sync = Some(now());
    let runtime = match DockerRuntime::connect().await {
        Ok(r) => r,
        Err(e) => {
            record_failure(dir, &mut record, &anyhow!(e.to_string()));
            return Err(e.into());
        }
    };
    let ctx = Ctx {
        dir,
        config,
        key,
        client,
        runtime,
        progress,
    };
    match converge(&ctx, &mut record).await {
        Ok(outcome) => {
            if outcome.version.is_some() {
                record.status = Some(InstallStatus::Converged);
            }
            record.last_error = None;
            dir.save_sync(&record)?;
            report(&ctx, &record).await;
            Ok(outcome)
        }
        Err(e) => {
            record_failure(dir, &mut record, &e);
            // When the check-in itself failed, a second one would only fail again.
            if !e.chain().any(|c| c.is::<driftless_client::ClientError>()) {
                report(&ctx, &record).await;
            }
            Err(e)
        }
    }
}

fn record_failure(dir: &StateDir, record: &mut SyncRecord, e: &anyhow::Error) {
    let line = driftless_exit::one_line(e);
    record.status = Some(InstallStatus::Failed(line.chars().take(300).collect()));
    record.last_error = Some(line);
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
        free_disk_bytes: free,
    }
}

/// Tells the control plane how the sync ended; a failure here is only a warning.
async fn report(ctx: &Ctx<'_>, record: &SyncRecord) {
    let free = ctx.runtime.free_disk_bytes().await.ok().flatten();
    let req = checkin_request(ctx, record, free);
    let res = ctx
        .client
        .checkin(
            &ctx.config.install_id,
            &ctx.key,
            &req,
            record.etag.as_deref(),
            now(),
        )
        .await;
    if let Err(e) = res {
        eprintln!("warning: could not report the outcome to the control plane: {e}");
    }
}

/// Checks in and returns the version to run and, when the server sent it, registry access.
async fn check_in(
    ctx: &Ctx<'_>,
    record: &mut SyncRecord,
    use_etag: bool,
) -> Result<Option<(String, Option<RegistryAccess>)>> {
    let free = ctx.runtime.free_disk_bytes().await.ok().flatten();
    let req = checkin_request(ctx, record, free);
    let etag = if use_etag { record.etag.clone() } else { None };
    let now = now();
    let outcome = ctx
        .client
        .checkin(&ctx.config.install_id, &ctx.key, &req, etag.as_deref(), now)
        .await
        .context("check-in failed; the running app was not touched")?;
    record.last_checkin = Some(now);
    let (response, etag) = match outcome {
        CheckinOutcome::NotModified => {
            let v = record.assigned_version.clone().ok_or_else(|| anyhow!("the control plane answered 304 but this host holds no assignment; run `driftless sync` again"))?;
            return Ok(Some((v, None)));
        }
        CheckinOutcome::RetryAfter(s) => {
            bail!("the control plane is busy; try again in {s}s (the running app was not touched)")
        }
        CheckinOutcome::Updated { response, etag } => (response, etag),
    };
    let (Some(a_env), Some(r_env)) = (&response.assignment, &response.release) else {
        let msg = response
            .message
            .clone()
            .unwrap_or_else(|| "nothing assigned yet".into());
        eprintln!("{msg}");
        return Ok(None);
    };
    let trust = ctx.dir.load_trust()?;
    let assignment = verify_assignment(&trust, &ctx.config.install_id, a_env, now)?;
    let verified = verify_release(&trust, &assignment, r_env, now)?;
    let cli: semver::Version = CLI_VERSION.parse()?;
    if verified.release.min_cli_version > cli {
        bail!(
            "release {} needs driftless {} or newer, this is {cli}; update the CLI",
            verified.release.version,
            verified.release.min_cli_version
        );
    }
    let version = verified.release.version.to_string();
    ctx.dir.save_verified(&version, a_env, r_env)?;
    ctx.dir.save_trust(&verified.next_state)?;
    record.etag = etag;
    record.assigned_version = Some(version.clone());
    ctx.dir.save_sync(record)?;
    Ok(Some((version, response.registry.clone())))
}

async fn converge(ctx: &Ctx<'_>, record: &mut SyncRecord) -> Result<SyncOutcome> {
    let Some((version, mut access)) = check_in(ctx, record, true).await? else {
        return Ok(SyncOutcome {
            version: ctx.dir.current_version(),
            changed: false,
            message: Some("nothing assigned yet".into()),
        });
    };
    let (_, release, assignment) = ctx.dir.load_verified(&version)?;
    if access.is_none()
        && (assignment.expires <= now() || !ready_offline(ctx, &release, &version).await?)
    {
        // The held documents are not enough to converge: ask again in full.
        match check_in(ctx, record, false).await? {
            Some((v, a)) if v == version => access = a,
            Some((v, _)) => {
                bail!("the assignment changed to {v} during the sync; run `driftless sync` again")
            }
            None => bail!("the control plane withdrew the assignment; run `driftless sync` again"),
        }
    }
    let host = match &access {
        Some(a) => a.host.clone(),
        None => fs::read_to_string(ctx.dir.release_dir(&version).join("registry"))?
            .trim()
            .to_string(),
    };
    if let Some(a) = &access {
        pull_missing(ctx, &release, a).await?;
        fetch_descriptor(ctx, &release, &version, a).await?;
        write_atomic(
            &ctx.dir.release_dir(&version).join("registry"),
            a.host.as_bytes(),
            false,
        )?;
    }
    apply(ctx, &release, &version, &host).await
}

fn image_ref(host: &str, image: &driftless_wire::release::ReleaseImage) -> String {
    format!("{host}/{}", image.pinned())
}

/// Whether everything needed to converge is already on the host.
async fn ready_offline(ctx: &Ctx<'_>, release: &ReleaseDocument, version: &str) -> Result<bool> {
    let dir = ctx.dir.release_dir(version);
    let Ok(host) = fs::read_to_string(dir.join("registry")) else {
        return Ok(false);
    };
    if cached_descriptor(&dir, release).is_none() {
        return Ok(false);
    }
    for image in &release.images {
        if !ctx
            .runtime
            .image_present(&image_ref(host.trim(), image))
            .await?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

fn cached_descriptor(dir: &Path, release: &ReleaseDocument) -> Option<Vec<u8>> {
    let bytes = fs::read(dir.join("descriptor.yaml")).ok()?;
    release.descriptor.digest.matches(&bytes).then_some(bytes)
}

async fn pull_missing(
    ctx: &Ctx<'_>,
    release: &ReleaseDocument,
    access: &RegistryAccess,
) -> Result<()> {
    let mut missing = Vec::new();
    for image in &release.images {
        let r = image_ref(&access.host, image);
        if !ctx.runtime.image_present(&r).await? {
            missing.push((image, r));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let needed: u64 = missing.iter().map(|(i, _)| i.size).sum();
    if let Some(free) = ctx.runtime.free_disk_bytes().await? {
        // Unpacking needs room for the compressed and the unpacked layers.
        if free < needed.saturating_mul(2) {
            driftless_exit::refuse!("not enough disk space for release {}: {needed} bytes of images need about {} free, {free} are; free some space and run `driftless sync` again", release.version, needed.saturating_mul(2));
        }
    }
    for (image, r) in missing {
        let bar = ctx
            .progress
            .start(&format!("pulling {} ({})", image.service, image.pinned()));
        ctx.runtime
            .pull(&r, &access.host, &access.token, &|p| bar.update(&p))
            .await?;
        bar.finish(&format!("pulled {}", image.service));
    }
    Ok(())
}

async fn fetch_descriptor(
    ctx: &Ctx<'_>,
    release: &ReleaseDocument,
    version: &str,
    access: &RegistryAccess,
) -> Result<()> {
    let dir = ctx.dir.release_dir(version);
    if cached_descriptor(&dir, release).is_some() {
        return Ok(());
    }
    let registry = RegistryClient::new(&access.host, access.insecure, &access.token)?;
    let d = &release.descriptor;
    let cap = d.size.min(driftless_descriptor::MAX_DESCRIPTOR_BYTES);
    let bytes = driftless_oci::fetch_compose_file(
        &registry,
        &d.repository,
        &d.manifest_digest,
        &d.digest,
        cap,
    )
    .await?;
    verify_against_release(&bytes, release)?;
    write_atomic(&dir.join("descriptor.yaml"), &bytes, false)
}

/// Renders the owned files, and brings the project up when anything differs.
async fn apply(
    ctx: &Ctx<'_>,
    release: &ReleaseDocument,
    version: &str,
    host: &str,
) -> Result<SyncOutcome> {
    let dir = ctx.dir.release_dir(version);
    let descriptor = cached_descriptor(&dir, release)
        .ok_or_else(|| anyhow!("descriptor of {version} is missing; run `driftless sync` again"))?;
    let compose = verify_against_release(&descriptor, release)?;
    let rendered = render_for_host(&compose, host)?;
    let env = render_env_file(&release.config_schema, &ctx.config.values)?;
    let compose_path = dir.join("compose.yaml");
    let env_path = dir.join("app.env");
    let files_same = fs::read(&compose_path).ok().as_deref() == Some(&rendered[..])
        && fs::read(&env_path).ok().as_deref() == Some(env.as_bytes());
    let running_same = project_matches(ctx, release, host).await?;
    let current_same = ctx.dir.current_version().as_deref() == Some(version);
    if files_same && running_same && current_same {
        return Ok(SyncOutcome {
            version: Some(version.to_string()),
            changed: false,
            message: None,
        });
    }
    write_atomic(&compose_path, &rendered, false)?;
    write_atomic(&env_path, env.as_bytes(), true)?;
    let previous = ctx.dir.current_version().filter(|v| v != version);
    eprintln!("starting {} {version}", ctx.config.app);
    let started = up_and_wait(ctx, release, &compose_path, &env_path).await;
    if let Err(e) = started {
        if let Some(prev) = previous {
            eprintln!("release {version} is not healthy; bringing {prev} back up");
            let pdir = ctx.dir.release_dir(&prev);
            let (_, prel, _) = ctx.dir.load_verified(&prev)?;
            if let Err(back) = up_and_wait(
                ctx,
                &prel,
                &pdir.join("compose.yaml"),
                &pdir.join("app.env"),
            )
            .await
            {
                eprintln!("warning: bringing {prev} back failed too: {back}");
            }
        }
        return Err(e.context(format!("release {version} did not become healthy")));
    }
    crate::files::switch_symlink(&ctx.dir.current_link(), &dir)?;
    Ok(SyncOutcome {
        version: Some(version.to_string()),
        changed: true,
        message: None,
    })
}

async fn up_and_wait(
    ctx: &Ctx<'_>,
    release: &ReleaseDocument,
    compose: &Path,
    env: &Path,
) -> Result<()> {
    ctx.runtime
        .compose_up(&ctx.config.project, compose, env)
        .await?;
    let services: Vec<String> = release.images.iter().map(|i| i.service.clone()).collect();
    ctx.runtime
        .wait_healthy(
            &ctx.config.project,
            &services,
            Duration::from_secs(release.health.timeout_s),
        )
        .await?;
    Ok(())
}

/// Whether the project runs exactly the release: one running container per service on
/// the pinned image, and nothing else.
async fn project_matches(ctx: &Ctx<'_>, release: &ReleaseDocument, host: &str) -> Result<bool> {
    let containers = ctx.runtime.project_containers(&ctx.config.project).await?;
    if containers.len() != release.images.len() {
        return Ok(false);
    }
    Ok(release.images.iter().all(|image| {
        let want = image_ref(host, image);
        containers
            .iter()
            .any(|c| c.service == image.service && c.running && c.image == want)
    }))
}
