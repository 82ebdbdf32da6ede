//! `driftless-bench seed`: fills a control plane's database with an app, a channel, a
//! customer, a license, one real signed release and N installs, each as registration
//! and a first check-in leave it (row, director-signed assignment, last report,
//! audit entry), through [`Store::import_installs`] in batches of one transaction.
//! Keys derive from the seed, so `run` recomputes them.

use anyhow::{Context as _, Result};
use driftless_exit::refuse;
use driftless_store::{
    AuditEvent, CheckinReport, ImportedInstall, Install, License, Release, ReleaseState, Store,
    StoredAssignment,
};
use driftless_wire::release::{Assignment, DescriptorRef, ReleaseDocument, ReleaseImage};
use driftless_wire::{Digest, Envelope, ASSIGNMENT_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE};
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use ed25519_dalek::SigningKey;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::identity::identity;

/// The app every seeded install runs.
pub const APP: &str = "bench";
/// Its channel.
pub const CHANNEL: &str = "stable";
/// The seeded release's version.
pub const SEEDED_VERSION: &str = "1.0.0";
/// The seeded release's counter.
pub const SEEDED_COUNTER: u64 = 1;
/// The assignment lifetime when the settings do not say.
const DEFAULT_ASSIGNMENT_LIFETIME_S: i64 = 6 * 3600;

/// Arguments of `seed`.
#[derive(clap::Args)]
pub struct SeedArgs {
    /// The data directory `driftless-vendor init` made (keys, settings, database).
    #[arg(long)]
    data_dir: PathBuf,
    /// The database (`postgres://…` or `sqlite://…`); default: the data dir's
    /// `database_url` setting, else its SQLite file, as for `serve`.
    #[arg(long, env = "DRIFTLESS_DATABASE_URL")]
    database_url: Option<String>,
    /// How many installs to create.
    #[arg(long)]
    installs: u64,
    /// Derives the installs' ids and keys; `run` needs the same value.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Installs per transaction.
    #[arg(long, default_value_t = 10_000)]
    batch: u64,
}

/// What every install's rows are made from.
struct Fleet {
    seed: u64,
    now: i64,
    now_ms: i64,
    lifetime_s: i64,
    director: SigningKey,
    license: License,
    release_digest: Digest,
}

/// Runs `seed`.
pub async fn run(args: SeedArgs) -> Result<()> {
    if args.installs == 0 || args.batch == 0 {
        refuse!("--installs and --batch must be at least 1");
    }
    let dir = &args.data_dir;
    if !dir.join("settings.toml").is_file() {
        refuse!(hint = format!("run `driftless-vendor init --data-dir {}` first", dir.display()); "{} is not a control plane's data directory (no settings.toml)", dir.display());
    }
    let store = open_store(dir, args.database_url.as_deref()).await?;
    if store.get_app(APP).await?.is_some() {
        refuse!(hint = "seed a fresh data directory (driftless-vendor init)"; "this database is already seeded: app `{APP}` exists");
    }
    let (now, now_ms) = now();
    let director = read_key(&dir.join("keys/director.pem"))?;
    let release_key = read_key(&dir.join("offline-keys/release.pem"))?;
    let release = signed_release(&release_key, now)?;
    let license = seed_catalog(&*store, &release, args.seed, now).await?;
    let fleet = Arc::new(Fleet {
        seed: args.seed,
        now,
        now_ms,
        lifetime_s: assignment_lifetime_s(dir)?,
        director,
        license,
        release_digest: release.digest.parse().context("seeded release digest")?,
    });
    let started = Instant::now();
    import_fleet(&*store, fleet, args.installs, args.batch).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {} installs of app `{APP}` (seed {}) in {secs:.1} s ({:.0} installs/s)",
        args.installs,
        args.seed,
        args.installs as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// The store at `url`, else at the data dir's `database_url` setting, else the data
/// dir's SQLite database: the order `serve` resolves it in.
pub async fn open_store(dir: &Path, url: Option<&str>) -> Result<Arc<dyn Store>> {
    let url = match url {
        Some(u) => u.to_string(),
        None => settings(dir)?
            .get("database_url")
            .and_then(toml::Value::as_str)
            .map_or_else(
                || format!("sqlite://{}", dir.join("driftless.db").display()),
                str::to_owned,
            ),
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = driftless_store_postgres::PgStore::open(&url).await?;
        return Ok(Arc::new(store));
    }
    if !url.starts_with("sqlite:") {
        refuse!(hint = "pass sqlite:///path/to/driftless.db or postgres://user:password@host/db"; "unsupported database URL `{}`", driftless_store_postgres::redact_url(&url));
    }
    let store = driftless_store_sqlite::SqliteStore::open(&url).await?;
    Ok(Arc::new(store))
}

fn now() -> (i64, i64) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    (secs, ms)
}

fn read_key(path: &Path) -> Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key {}", path.display()))?;
    SigningKey::from_pkcs8_pem(pem.trim())
        .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 PKCS#8 PEM key: {e}", path.display()))
}

/// The settings' assignment lifetime, so seeded assignments live as served ones do.
fn assignment_lifetime_s(dir: &Path) -> Result<i64> {
    Ok(settings(dir)?
        .get("assignment_lifetime_s")
        .and_then(toml::Value::as_integer)
        .unwrap_or(DEFAULT_ASSIGNMENT_LIFETIME_S))
}

/// The data dir's settings.toml.
fn settings(dir: &Path) -> Result<toml::Table> {
    let path = dir.join("settings.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("malformed {}", path.display()))
}

/// A release document signed with the release key; its images' digests are made up
/// (a check-in never contacts the registry).
fn signed_release(release_key: &SigningKey, now: i64) -> Result<Release> {
    let made_up = |what: &str| Digest::of(format!("driftless-bench {what}").as_bytes());
    let image = |service: &str| ReleaseImage {
        service: service.into(),
        repository: format!("{APP}/r{SEEDED_COUNTER}/{service}"),
        digest: made_up(service),
        platforms: vec!["linux/amd64".into()],
        size: 50_000_000,
    };
    let doc = ReleaseDocument {
        doc_type: "release".into(),
        app: APP.into(),
        version: SEEDED_VERSION.parse()?,
        release_counter: SEEDED_COUNTER,
        created_at: now,
        expires: now + 365 * 86_400,
        images: vec![image("web"), image("worker")],
        descriptor: DescriptorRef {
            repository: format!("{APP}/r{SEEDED_COUNTER}/compose"),
            manifest_digest: made_up("compose manifest"),
            digest: made_up("compose file"),
            size: 900,
        },
        config_schema: vec![],
        health: Default::default(),
        min_cli_version: semver::Version::new(0, 1, 0),
        rollback_floor: 0,
        cli: vec![],
        notes: None,
        urgent: false,
        migrations: Default::default(),
        preflight: Default::default(),
        sboms: Vec::new(),
    };
    let payload = serde_json::to_vec(&doc)?;
    let envelope = Envelope::sign(RELEASE_PAYLOAD_TYPE, &payload, &[release_key]);
    Ok(Release {
        app: APP.into(),
        version: SEEDED_VERSION.into(),
        release_counter: SEEDED_COUNTER,
        digest: Digest::of(&payload).as_str().to_string(),
        envelope: serde_json::to_string(&envelope)?,
        created_at: now,
        state: ReleaseState::Active,
    })
}

/// The app, its channel on the release, a customer and a license.
async fn seed_catalog(
    store: &dyn Store,
    release: &Release,
    seed: u64,
    now: i64,
) -> Result<License> {
    store.create_app(APP, now).await?;
    store.create_channel(APP, CHANNEL, now).await?;
    store.insert_release(release).await?;
    store
        .set_channel_release(APP, CHANNEL, SEEDED_VERSION, now)
        .await?;
    store.create_customer("bench-customer", now).await?;
    let license = License {
        id: format!("lic_bench_{seed}"),
        customer: "bench-customer".into(),
        app: APP.into(),
        channel: CHANNEL.into(),
        key_hash: hex::encode(Sha256::digest(format!("driftless-bench license {seed}"))),
        revoked: false,
        created_at: now,
    };
    store.create_license(&license).await?;
    Ok(license)
}

/// Builds batches on other threads while the store imports the previous one.
async fn import_fleet(
    store: &dyn Store,
    fleet: Arc<Fleet>,
    installs: u64,
    batch: u64,
) -> Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<ImportedInstall>>>(2);
    let producer = std::thread::spawn(move || {
        let mut start = 0;
        while start < installs {
            let end = (start + batch).min(installs);
            if tx.blocking_send(build_batch(&fleet, start..end)).is_err() {
                return;
            }
            start = end;
        }
    });
    let mut done = 0u64;
    while let Some(batch) = rx.recv().await {
        let batch = batch?;
        store.import_installs(&batch).await?;
        done += batch.len() as u64;
        if done % 100_000 < batch.len() as u64 || done == installs {
            eprintln!("  {done} / {installs} installs");
        }
    }
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("the install generator thread panicked"))?;
    Ok(())
}

/// Installs `range`, built on every core.
fn build_batch(fleet: &Fleet, range: std::ops::Range<u64>) -> Result<Vec<ImportedInstall>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from) as u64;
    let per = (range.end - range.start).div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                let lo = (range.start + t * per).min(range.end);
                let hi = (lo + per).min(range.end);
                scope.spawn(move || {
                    (lo..hi)
                        .map(|i| imported(fleet, i))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity((range.end - range.start) as usize);
        for part in parts {
            let part = part
                .join()
                .map_err(|_| anyhow::anyhow!("an install generator thread panicked"))??;
            all.extend(part);
        }
        // Ids are random: inserted in id order, a batch walks the id index once
        // instead of jumping across it for every install.
        all.sort_unstable_by(|a, b| a.install.id.cmp(&b.install.id));
        Ok(all)
    })
}

/// Install `index` as registration and a first check-in leave it.
fn imported(fleet: &Fleet, index: u64) -> Result<ImportedInstall> {
    let me = identity(fleet.seed, index);
    let hostname = format!("bench-host-{index}");
    let l = &fleet.license;
    let install = Install {
        id: me.id.clone(),
        license_id: l.id.clone(),
        customer: l.customer.clone(),
        app: l.app.clone(),
        channel: l.channel.clone(),
        public_key: hex::encode(me.key.verifying_key().as_bytes()),
        hostname: hostname.clone(),
        platform: "linux/amd64".into(),
        revoked: false,
        created_at: fleet.now,
        uninstalled_at: None,
    };
    let registered = AuditEvent {
        at: fleet.now,
        actor: format!("install:{}", me.id),
        action: "install.register".into(),
        subject: me.id.clone(),
        detail: serde_json::json!({ "license": l.id, "hostname": hostname }).to_string(),
        request_id: String::new(),
    };
    let report = CheckinReport {
        at: fleet.now,
        status: "converged".into(),
        version: Some(SEEDED_VERSION.into()),
        release_counter: Some(SEEDED_COUNTER),
        cli_version: env!("CARGO_PKG_VERSION").into(),
        free_disk_bytes: Some(50_000_000_000),
        target_version: None,
        reason: None,
        policy: None,
        waiting: None,
    };
    Ok(ImportedInstall {
        assignment: Some(assignment(fleet, &me.id)?),
        install,
        registered,
        report: Some(report),
        newest_request_ms: Some(fleet.now_ms),
    })
}

/// The director-signed assignment the server would have issued at the first check-in.
fn assignment(fleet: &Fleet, install_id: &str) -> Result<StoredAssignment> {
    let a = Assignment {
        doc_type: "assignment".into(),
        install_id: install_id.into(),
        app: APP.into(),
        channel: CHANNEL.into(),
        version: SEEDED_VERSION.parse()?,
        release_digest: fleet.release_digest.clone(),
        release_counter: SEEDED_COUNTER,
        sequence: 1,
        issued_at: fleet.now,
        expires: fleet.now + fleet.lifetime_s,
        allow_downgrade: false,
        entitlements: Default::default(),
    };
    let payload = serde_json::to_vec(&a)?;
    let envelope = Envelope::sign(ASSIGNMENT_PAYLOAD_TYPE, &payload, &[&fleet.director]);
    let text = serde_json::to_string(&envelope)?;
    Ok(StoredAssignment {
        sequence: 1,
        release_digest: fleet.release_digest.as_str().to_string(),
        expires: a.expires,
        etag: Digest::of(text.as_bytes()).hex().to_string(),
        envelope: text,
    })
}
