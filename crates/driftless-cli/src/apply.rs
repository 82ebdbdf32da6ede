//! Applying a verified release on this host: check disk → pull what is missing (with
//! retries) → fetch and verify the descriptor → render the owned files (repairing hand
//! edits) → repair drifted containers → `compose up` → wait for health and the probe →
//! switch `current`. If the new release is not healthy, the previous one is brought back.

use anyhow::{anyhow, Result};
use driftless_descriptor::{
    append_env_vars, render_env_file, render_for_host, verify_against_release,
};
use driftless_exit::HintExt as _;
use driftless_oci::RegistryClient;
use driftless_runtime::{ContainerRuntime, HealthGate, RuntimeError};
use driftless_wire::checkin::RegistryAccess;
use driftless_wire::entitlements;
use driftless_wire::release::ReleaseDocument;
use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::drift::{self, image_ref};
use crate::files::write_atomic;
use crate::journal::{self, Step};
use crate::migrate;
use crate::pull_token::PullToken;
use crate::reason::DiskFull;
use crate::sync::Ctx;

/// Pull attempts before giving up (the running release is untouched meanwhile).
const PULL_ATTEMPTS: u32 = 3;

fn registry_host(ctx: &Ctx<'_>, version: &str, access: Option<&RegistryAccess>) -> Result<String> {
    match access {
        Some(a) => Ok(a.host.clone()),
        None => Ok(
            fs::read_to_string(ctx.dir.release_dir(version).join("registry"))?
                .trim()
                .to_string(),
        ),
    }
}

/// Whether everything needed to converge is already on the host.
pub async fn ready_offline(
    ctx: &Ctx<'_>,
    release: &ReleaseDocument,
    version: &str,
) -> Result<bool> {
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

/// The env file compose reads: the customer's values, then the license's entitlements
/// from the verified assignment stored with `version`, read-only
/// (`DRIFTLESS_ENTITLEMENT_<KEY>`; `config set` refuses those names).
fn render_env(ctx: &Ctx<'_>, release: &ReleaseDocument, version: &str) -> Result<String> {
    let mut env = render_env_file(&release.config_schema, &ctx.config.values)?;
    let (_, _, assignment) = ctx.dir.load_verified(version)?;
    let values: Vec<(String, String)> = assignment
        .entitlements
        .iter()
        .map(|(k, v)| (entitlements::env_name(k), v.to_string()))
        .collect();
    append_env_vars(
        &mut env,
        values.iter().map(|(k, v)| (k.clone(), v.as_str())),
    )?;
    Ok(env)
}

fn cached_descriptor(dir: &Path, release: &ReleaseDocument) -> Option<Vec<u8>> {
    let bytes = fs::read(dir.join("descriptor.yaml")).ok()?;
    release.descriptor.digest.matches(&bytes).then_some(bytes)
}

/// Converges the host on `version`; returns whether containers were (re)created.
/// Drift found on the way is repaired and described in `repaired`.
pub async fn apply(
    ctx: &Ctx<'_>,
    release: &ReleaseDocument,
    version: &str,
    access: Option<&RegistryAccess>,
    repaired: &mut Vec<String>,
) -> Result<bool> {
    let host = registry_host(ctx, version, access)?;
    if let Some(a) = access {
        download(ctx, release, version, a).await?;
    }
    journal::begin(ctx.dir, Step::Pulled, version)?;
    journal::crash_point("after-pull");

    let dir = ctx.dir.release_dir(version);
    let descriptor = cached_descriptor(&dir, release)
        .ok_or_else(|| anyhow!("descriptor of {version} is missing"))
        .hint("run `driftless sync` again")?;
    let compose = verify_against_release(&descriptor, release)?;
    let rendered = render_for_host(&compose, &host)?;
    let env = render_env(ctx, release, version)?;
    let now = crate::now();
    let (compose_changed, compose_note) =
        drift::write_owned(&dir, "compose.yaml", &rendered, false, now)?;
    let (env_changed, env_note) = drift::write_owned(&dir, "app.env", env.as_bytes(), true, now)?;
    repaired.extend(compose_note.into_iter().chain(env_note));
    journal::begin(ctx.dir, Step::Rendered, version)?;
    journal::crash_point("after-render");

    let is_current = ctx.dir.current_version().as_deref() == Some(version);
    let found = ctx.runtime.project_containers(&ctx.config.project).await?;
    let containers = drift::containers(release, &host, &found);
    if is_current && containers.is_clean() && !compose_changed && !env_changed {
        return Ok(false);
    }
    if is_current {
        for item in &containers.items {
            eprintln!("drift: {item}");
        }
        repaired.extend(containers.items.iter().map(|i| format!("{i}; repaired")));
        // Only drift is removed by hand. During an upgrade the old release's containers
        // keep serving until compose replaces them one by one.
        for id in &containers.extras {
            ctx.runtime.remove_container(id).await?;
        }
    }
    bring_up(ctx, release, version, &dir).await?;
    journal::begin(ctx.dir, Step::Switching, version)?;
    journal::crash_point("before-switch");
    crate::files::switch_symlink(&ctx.dir.current_link(), &dir)?;
    ctx.dir.mark_ran(version)?;
    crate::migrate::discard(ctx.dir);
    Ok(true)
}

/// Pulls what is missing of `version` and fetches its descriptor, so that it can be
/// applied later without the registry (a release waiting for the update policy).
pub async fn download(
    ctx: &Ctx<'_>,
    release: &ReleaseDocument,
    version: &str,
    access: &RegistryAccess,
) -> Result<()> {
    let mut token = PullToken::new(access, version);
    pull_missing(ctx, release, &mut token).await?;
    fetch_descriptor(ctx, release, version, &mut token).await?;
    write_atomic(
        &ctx.dir.release_dir(version).join("registry"),
        access.host.as_bytes(),
        false,
    )
}

/// `compose up` of `version`; if it is not healthy, the previous release comes back.
/// A release with jobs and data volumes is migrated on the way (see [`crate::migrate`]):
/// snapshot → `pre_upgrade` jobs → `up` + health gate → `post_upgrade` jobs; when any
/// of them fails, the data volumes are restored before the previous release comes back.
async fn bring_up(
    ctx: &Ctx<'_>,
    release: &ReleaseDocument,
    version: &str,
    dir: &Path,
) -> Result<()> {
    let previous = ctx.dir.current_version().filter(|v| v != version);
    migrate::recover(ctx).await?;
    let migrating = migrate::applies(ctx, release, version);
    let started = migrate_and_start(ctx, release, version, dir, migrating).await;
    let Err(e) = started else {
        return Ok(());
    };
    if migrating {
        eprintln!("release {version} failed; restoring its data volumes from the snapshot");
        if let Err(r) = migrate::restore(ctx).await {
            // The old release must not run on data it does not know; the next sync
            // retries the restore before anything else.
            return Err(r.context(format!(
                "release {version} failed ({}) and restoring its data volumes failed too; the app is stopped",
                driftless_exit::one_line(&e)
            )))
            .hint("fix what it reports, then run `driftless sync` again");
        }
    }
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
            eprintln!(
                "warning: bringing {prev} back failed too: {}",
                driftless_exit::one_line(&back)
            );
        }
    }
    if e.is::<migrate::JobFailed>() {
        let what = format!("release {version} failed a job and was rolled back");
        return Err(e.context(driftless_exit::Coded(
            driftless_exit::code::JOB_FAILED,
            what,
        )));
    }
    if e.is::<crate::reason::DiskFull>() || e.chain().any(|c| c.is::<crate::reason::DiskFull>()) {
        // No room for the snapshot: the release never started.
        return Err(e.context(format!("release {version} was not applied")));
    }
    Err(e.context(format!("release {version} did not become healthy")))
}

/// The steps of [`bring_up`] that can fail and send the host back.
async fn migrate_and_start(
    ctx: &Ctx<'_>,
    release: &ReleaseDocument,
    version: &str,
    dir: &Path,
    migrating: bool,
) -> Result<()> {
    if migrating {
        migrate::snapshot(ctx, release, version).await?;
        journal::crash_point("after-snapshot");
        migrate::run_jobs(ctx, release, version, dir, migrate::Phase::PreUpgrade).await?;
        journal::crash_point("after-pre-upgrade");
    }
    journal::begin(ctx.dir, Step::Up, version)?;
    eprintln!("starting {} {version}", ctx.config.app);
    if journal::crash_requested("mid-up") {
        // Bring up one service of the new release, then die, as a kill mid-`up` would.
        let first: Vec<String> = release
            .images
            .iter()
            .filter(|i| !release.migrations.is_job(&i.service))
            .take(1)
            .map(|i| i.service.clone())
            .collect();
        ctx.runtime
            .compose_up_services(
                &ctx.config.project,
                &dir.join("compose.yaml"),
                &dir.join("app.env"),
                &first,
            )
            .await?;
        journal::crash_point("mid-up");
    }
    up_and_wait(
        ctx,
        release,
        &dir.join("compose.yaml"),
        &dir.join("app.env"),
    )
    .await?;
    if migrating {
        migrate::run_jobs(ctx, release, version, dir, migrate::Phase::PostUpgrade).await?;
    }
    Ok(())
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
    // Jobs are run by the host, never by `up`: they are not waited for.
    let services: Vec<String> = release
        .images
        .iter()
        .filter(|i| !release.migrations.is_job(&i.service))
        .map(|i| i.service.clone())
        .collect();
    let timeout = Duration::from_secs(release.health.timeout_s);
    let gate = HealthGate {
        timeout,
        settle: Duration::from_secs(release.health.settle_s()),
    };
    let started = std::time::Instant::now();
    ctx.runtime
        .wait_healthy(&ctx.config.project, &services, gate)
        .await?;
    if let Some(probe) = &release.health.probe {
        let url = crate::probe::probe_url(probe, &release.config_schema, &ctx.config.values);
        let left = timeout
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(1));
        crate::probe::wait(&url, probe.status, left).await?;
    }
    Ok(())
}

async fn pull_missing(
    ctx: &Ctx<'_>,
    release: &ReleaseDocument,
    token: &mut PullToken,
) -> Result<()> {
    let mut missing = Vec::new();
    for image in &release.images {
        let r = image_ref(token.host(), image);
        if !ctx.runtime.image_present(&r).await? {
            missing.push((image, r));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let needed: u64 = missing.iter().map(|(i, _)| i.size).sum();
    if let Some(free) = free_disk(ctx).await? {
        // Unpacking needs room for the compressed and the unpacked layers.
        let want = needed.saturating_mul(2);
        if free < want {
            let why = DiskFull(format!(
                "release {} needs about {want} bytes free for its images, {free} are (the running app was not touched)",
                release.version
            ));
            return Err(anyhow::Error::new(why).context(driftless_exit::Coded(
                driftless_exit::code::DISK_FULL,
                "not enough disk space".into(),
            )))
            .hint("free some space and run `driftless sync` again");
        }
    }
    for (image, r) in missing {
        pull_with_retries(ctx, image, &r, token).await?;
    }
    Ok(())
}

/// Free bytes where the engine keeps images. Debug builds let a test claim less
/// through [`crate::journal::FREE_DISK_ENV`], to prove the check without filling a disk.
async fn free_disk(ctx: &Ctx<'_>) -> Result<Option<u64>> {
    if cfg!(debug_assertions) {
        if let Some(v) = std::env::var(crate::journal::FREE_DISK_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
        {
            return Ok(Some(v));
        }
    }
    Ok(ctx.runtime.free_disk_bytes().await?)
}

/// Pulls one image, retrying a failed pull with a backoff and a pull the registry
/// refused the token for at once with a renewed one; each attempt starts with a token
/// that is not about to run out.
async fn pull_with_retries(
    ctx: &Ctx<'_>,
    image: &driftless_wire::release::ReleaseImage,
    r: &str,
    token: &mut PullToken,
) -> Result<()> {
    let mut attempt = 1;
    loop {
        let access = token.fresh(ctx).await?;
        let bar = ctx
            .progress
            .start(&format!("pulling {} ({})", image.service, image.pinned()));
        match ctx
            .runtime
            .pull(r, &access.host, &access.token, &|p| bar.update(&p))
            .await
        {
            Ok(()) => {
                bar.finish(&format!("pulled {}", image.service));
                return Ok(());
            }
            Err(e) if e.refused_credential() && attempt < PULL_ATTEMPTS => {
                // Most likely the token ran out mid-pull: what is already pulled
                // stays, so a renewed token carries the pull on from there.
                bar.finish(&format!(
                    "the registry refused the token while pulling {}; renewing it and resuming",
                    image.service
                ));
                token.renew(ctx).await?;
                attempt += 1;
            }
            Err(e @ RuntimeError::Pull { .. }) if attempt < PULL_ATTEMPTS => {
                let wait = Duration::from_secs(2u64.pow(attempt - 1));
                bar.finish(&format!(
                    "pull of {} failed ({e}); retrying in {}s",
                    image.service,
                    wait.as_secs()
                ));
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn fetch_descriptor(
    ctx: &Ctx<'_>,
    release: &ReleaseDocument,
    version: &str,
    token: &mut PullToken,
) -> Result<()> {
    let dir = ctx.dir.release_dir(version);
    if cached_descriptor(&dir, release).is_some() {
        return Ok(());
    }
    let access = token.fresh(ctx).await?;
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
