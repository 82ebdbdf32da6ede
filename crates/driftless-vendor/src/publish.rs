//! `driftless-vendor publish`: pin every image by digest, push images and the compose
//! descriptor to the registry, sign the release document and upload it.
//!
//! Every check that can refuse the release runs before anything is uploaded.

use anyhow::{anyhow, Context as _, Result};
use driftless_client::VendorClient;
use driftless_descriptor::{ComposeFile, DeclaredHealth, ServiceImage, MAX_DESCRIPTOR_BYTES};
use driftless_exit::HintExt as _;
use driftless_oci::RegistryClient;
use driftless_registry_token::{
    is_release_repository, release_prefix, release_repository, DESCRIPTOR_COMPONENT,
};
use driftless_wire::api::ReleaseInfo;
use driftless_wire::preflight::Preflight;
use driftless_wire::release::{
    CliBinary, ConfigVar, DescriptorRef, HealthSpec, Migrations, ReleaseDocument, ReleaseImage,
    DEFAULT_SETTLE_S,
};
use driftless_wire::{Digest, Envelope, KeyId, RELEASE_PAYLOAD_TYPE};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::clock::now;
use crate::push::{Engine, LocalImage};
use crate::remote::Remote;
use crate::signer::ReleaseSigner;

/// Arguments of `publish`.
#[derive(clap::Args)]
pub struct PublishArgs {
    /// App name.
    #[arg(long)]
    app: String,
    /// Semver version of the release.
    #[arg(long = "version")]
    release_version: String,
    /// The compose file.
    #[arg(long)]
    compose: PathBuf,
    /// Release notes (Markdown).
    #[arg(long)]
    notes: Option<PathBuf>,
    /// The release signing key (PKCS#8 PEM) [default: the key in DRIFTLESS_RELEASE_KEY,
    /// else the file DRIFTLESS_RELEASE_KEY_FILE names].
    #[arg(long)]
    release_key: Option<PathBuf>,
    /// Sign with an external command instead (a hardware key, a KMS): it reads the
    /// bytes to sign on stdin and prints the Ed25519 signature (raw, base64 or hex).
    #[arg(long, conflicts_with = "release_key")]
    sign_with: Option<String>,
    /// Oldest customer CLI that may apply this release.
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    min_cli_version: String,
    /// Seconds a host waits for the release to be healthy.
    #[arg(long, default_value_t = 120)]
    health_timeout: u64,
    /// An earlier release of the app that hosts which verify this one never go
    /// below, whatever the control plane assigns (signed into the release).
    #[arg(long, value_name = "VERSION")]
    rollback_floor: Option<String>,
    /// A customer CLI build to offer with the release, as PLATFORM=PATH
    /// (e.g. linux/amd64=target/release/driftless); repeatable. Its version is
    /// what `PATH --version` prints.
    #[arg(long = "cli-binary", value_name = "PLATFORM=PATH", value_parser = parse_cli_binary)]
    cli_binaries: Vec<(String, PathBuf)>,
    /// The --cli-binary builds' version, instead of running them (for tests).
    #[arg(long, hide = true)]
    cli_version: Option<String>,
    /// Mark the release urgent (a security fix), signed into the release: hosts say
    /// so while it waits, but still wait for their customer's approval or window.
    #[arg(long)]
    urgent: bool,
    /// The SBOM of a service, CycloneDX or SPDX JSON, as SERVICE=FILE; repeatable.
    /// A service without one gets a minimal CycloneDX SBOM built from its image's
    /// Debian and Alpine package databases.
    #[arg(long = "sbom", value_name = "SERVICE=FILE", value_parser = crate::sbom::parse_sbom_arg)]
    sboms: Vec<(String, PathBuf)>,
    /// Attach only the SBOMs given with --sbom; build none from the images.
    #[arg(long)]
    no_generated_sbom: bool,
    #[command(flatten)]
    remote: Remote,
}

/// `PLATFORM=PATH` of `publish --cli-binary`.
fn parse_cli_binary(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((platform, path)) if !platform.is_empty() && !path.is_empty() => {
            Ok((platform.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!(
            "`{text}` is not PLATFORM=PATH (e.g. linux/amd64=target/release/driftless)"
        )),
    }
}

/// Runs `publish`: prints the release document's digest on stdout.
pub async fn run(args: PublishArgs) -> Result<()> {
    let signer = ReleaseSigner::from_command_line(args.sign_with, args.release_key.as_deref())?;
    let c = args.remote.client()?;
    let opts = PublishOptions {
        app: &args.app,
        version: &args.release_version,
        compose: &args.compose,
        notes: args.notes.as_deref(),
        signer: &signer,
        min_cli_version: &args.min_cli_version,
        health_timeout_s: args.health_timeout,
        rollback_floor: args.rollback_floor.as_deref(),
        cli_binaries: &args.cli_binaries,
        cli_version: args.cli_version.as_deref(),
        urgent: args.urgent,
        sboms: &args.sboms,
        generate_sboms: !args.no_generated_sbom,
    };
    let p = publish(&c, &opts, now()).await?;
    println!("{}", p.digest);
    eprintln!(
        "published {} {} (release counter {}, {} images, {} CLI builds) to {}/{}",
        args.app,
        p.release.version,
        p.release.release_counter,
        p.release.images.len(),
        p.release.cli.len(),
        p.registry_host,
        release_prefix(&args.app, p.release.release_counter)
    );
    if p.release.urgent {
        eprintln!(
            "{} is marked urgent: hosts say so while it waits for their approval or window",
            p.release.version
        );
    }
    if let Some(floor) = &args.rollback_floor {
        eprintln!(
            "hosts that verify {} never go below {floor} (release counter {})",
            p.release.version, p.release.rollback_floor
        );
    }
    Ok(())
}

/// How long a release document stays installable.
const RELEASE_LIFETIME_S: i64 = 5 * 365 * 86400;

/// Options of `publish`.
pub struct PublishOptions<'a> {
    /// App name.
    pub app: &'a str,
    /// Semver version.
    pub version: &'a str,
    /// The compose file.
    pub compose: &'a Path,
    /// Release notes file.
    pub notes: Option<&'a Path>,
    /// The release signing key.
    pub signer: &'a ReleaseSigner,
    /// Oldest CLI that can apply the release.
    pub min_cli_version: &'a str,
    /// Health timeout, seconds.
    pub health_timeout_s: u64,
    /// The version of the earlier release that is the rollback floor.
    pub rollback_floor: Option<&'a str>,
    /// CLI binaries offered with the release: `(platform, path)`.
    pub cli_binaries: &'a [(String, PathBuf)],
    /// The binaries' version, instead of running `PATH --version` (hidden; tests).
    pub cli_version: Option<&'a str>,
    /// Whether the release is marked urgent (signed into it).
    pub urgent: bool,
    /// SBOMs given per service: `(service, path)`.
    pub sboms: &'a [(String, PathBuf)],
    /// Build an SBOM from the image of every service that has none given.
    pub generate_sboms: bool,
}

/// What was published.
pub struct Published {
    /// The release document.
    pub release: ReleaseDocument,
    /// Digest of its signed payload.
    pub digest: Digest,
    /// The registry its images and descriptor were pushed to.
    pub registry_host: String,
}

/// The repository of release `counter` a service's image is pushed to.
fn service_repository(app: &str, counter: u64, service: &str) -> Result<String> {
    let repo = release_repository(app, counter, &service.to_ascii_lowercase());
    if service == DESCRIPTOR_COMPONENT || !is_release_repository(&repo, app, counter) {
        driftless_exit::refuse!(
            hint = "rename the service to lowercase letters and digits with single '.', '_' or '-' between them, and not `compose`";
            "service name `{service}` cannot be a registry repository name (`{repo}`)"
        );
    }
    Ok(repo)
}

/// What `publish` reads from the command line's files, all checked before anything
/// is uploaded.
struct Inputs {
    version: semver::Version,
    min_cli: semver::Version,
    compose: ComposeFile,
    schema: Vec<ConfigVar>,
    health: DeclaredHealth,
    migrations: Migrations,
    preflight: Preflight,
    notes: Option<String>,
    cli_binaries: Vec<(CliBinary, Vec<u8>)>,
    sboms: Vec<crate::sbom::AttachedSbom>,
}

/// A service's image, where it goes, and what the local engine says about it.
pub(crate) struct PlannedImage {
    pub(crate) service: ServiceImage,
    repository: String,
    local: LocalImage,
}

/// Publishes one release. Refuses, uploading nothing, on any bad input.
pub async fn publish(
    client: &VendorClient,
    opts: &PublishOptions<'_>,
    now: i64,
) -> Result<Published> {
    let inputs = read_inputs(opts)?;
    let info = client.info().await?;
    let key_id = check_release_key(client, info.root_version, opts.signer).await?;
    let releases = client.list_releases(opts.app).await?;
    let counter = next_release_counter(&releases, opts.app, &inputs.version)?;
    let floor = rollback_floor_counter(&releases, opts.app, opts.rollback_floor)?;

    let engine = Engine::connect().await?;
    let plan = plan_images(&engine, &inputs.compose, opts.app, counter).await?;
    let descriptor_repo = release_repository(opts.app, counter, DESCRIPTOR_COMPONENT);
    let mut repos: Vec<String> = plan.iter().map(|p| p.repository.clone()).collect();
    repos.push(descriptor_repo.clone());
    let token = client.push_token(opts.app, counter, &repos).await?;
    let previous = crate::mount::previous_images(client, opts.app).await?;

    let tag = inputs.version.to_string().replace('+', "_");
    let registry = RegistryClient::new(&info.registry_host, info.registry_insecure, &token.token)?;
    let target = PushTarget {
        engine: &engine,
        registry: &registry,
        host: &info.registry_host,
        tag: &tag,
        token: &token.token,
        previous: &previous,
    };
    let (images, pins) = push_images(&target, &plan).await?;
    let pinned = inputs.compose.pin_images(&pins)?;
    eprintln!(
        "pushing the pinned compose file as {}/{descriptor_repo}:{tag}",
        info.registry_host
    );
    let artifact = registry
        .push_compose_artifact(&descriptor_repo, &tag, &pinned)
        .await?;
    let cli = upload_cli_binaries(client, inputs.cli_binaries).await?;
    let mut sboms = inputs.sboms;
    if opts.generate_sboms {
        sboms.extend(crate::image_packages::generate_missing(&engine, &plan, &sboms).await?);
    }
    let sboms = crate::sbom::push_sboms(&registry, client, &images, sboms).await?;

    let release = ReleaseDocument {
        doc_type: "release".into(),
        app: opts.app.to_string(),
        version: inputs.version,
        release_counter: counter,
        created_at: now,
        expires: now + RELEASE_LIFETIME_S,
        images,
        descriptor: DescriptorRef {
            repository: descriptor_repo,
            manifest_digest: artifact.manifest_digest,
            digest: artifact.file_digest,
            size: artifact.size,
        },
        config_schema: inputs.schema,
        health: HealthSpec {
            timeout_s: inputs.health.timeout_s.unwrap_or(opts.health_timeout_s),
            // Written out even when defaulted, so the signed document says what hosts do.
            settle_s: Some(inputs.health.settle_s.unwrap_or(DEFAULT_SETTLE_S)),
            probe: inputs.health.probe,
        },
        min_cli_version: inputs.min_cli,
        rollback_floor: floor,
        cli,
        notes: inputs.notes,
        urgent: opts.urgent,
        migrations: inputs.migrations,
        preflight: inputs.preflight,
        sboms,
    };
    sign_and_upload(client, opts, key_id, release, info.registry_host).await
}

/// Parses and checks every local input: versions, the compose file, the notes and
/// the CLI builds.
fn read_inputs(opts: &PublishOptions<'_>) -> Result<Inputs> {
    let version: semver::Version = opts.version.parse().map_err(|e| {
        driftless_exit::InvalidInput(format!("version `{}` is not semver: {e}", opts.version))
    })?;
    let min_cli: semver::Version = opts.min_cli_version.parse().map_err(|e| {
        driftless_exit::InvalidInput(format!(
            "--min-cli-version `{}` is not semver: {e}",
            opts.min_cli_version
        ))
    })?;
    let in_compose = || format!("in {}", opts.compose.display());
    let bytes = read_capped(opts.compose, MAX_DESCRIPTOR_BYTES)?;
    let compose = ComposeFile::parse(&bytes).with_context(in_compose)?;
    compose
        .check_variables_declared()
        .with_context(in_compose)?;
    let schema = compose.config_schema().with_context(in_compose)?;
    let health = compose.health().with_context(in_compose)?;
    let migrations = compose.migrations().with_context(in_compose)?;
    let preflight = compose.preflight().with_context(in_compose)?;
    // Checked here so a bad pattern is refused before anything is pushed.
    compose.analyzers().with_context(in_compose)?;
    let notes = match opts.notes {
        Some(p) => Some(
            String::from_utf8(read_capped(p, 256 * 1024)?)
                .map_err(|_| anyhow!("{} is not UTF-8", p.display()))?,
        ),
        None => None,
    };
    let cli_binaries = read_cli_binaries(opts.cli_binaries, opts.cli_version)?;
    let services: Vec<String> = compose.services().into_iter().map(|s| s.service).collect();
    let sboms = crate::sbom::read_sboms(opts.sboms, &services)?;
    Ok(Inputs {
        version,
        min_cli,
        compose,
        schema,
        health,
        migrations,
        preflight,
        notes,
        cli_binaries,
        sboms,
    })
}

/// The counter after the app's highest; refuses a version the app already has.
fn next_release_counter(
    releases: &[ReleaseInfo],
    app: &str,
    version: &semver::Version,
) -> Result<u64> {
    if releases.iter().any(|r| r.version == version.to_string()) {
        return Err(driftless_exit::Conflict(format!(
            "app `{app}` already has release {version}"
        )))
        .hint("publish a new version");
    }
    Ok(releases
        .iter()
        .map(|r| r.release_counter)
        .max()
        .unwrap_or(0)
        + 1)
}

/// The release counter of `--rollback-floor VERSION` (0 without one); refuses a
/// version that is not an earlier release of the app.
fn rollback_floor_counter(releases: &[ReleaseInfo], app: &str, floor: Option<&str>) -> Result<u64> {
    let Some(floor) = floor else {
        return Ok(0);
    };
    let version: semver::Version = floor.parse().map_err(|e| {
        driftless_exit::InvalidInput(format!("--rollback-floor `{floor}` is not semver: {e}"))
    })?;
    match releases.iter().find(|r| r.version == version.to_string()) {
        Some(r) => Ok(r.release_counter),
        None => driftless_exit::refuse!(
            hint = format!("name an earlier release: `driftless-vendor releases --app {app}` lists them");
            "--rollback-floor {floor} is not a release of app `{app}`"
        ),
    }
}

/// Checks every service's image before anything is pushed: concrete, present in the
/// local engine, and named so the registry accepts its repository.
async fn plan_images(
    engine: &Engine,
    compose: &ComposeFile,
    app: &str,
    counter: u64,
) -> Result<Vec<PlannedImage>> {
    let mut plan = Vec::new();
    for s in compose.services() {
        if s.image.contains('$') {
            driftless_exit::refuse!(
                hint = "write the image out in full: publish needs a concrete image it can pin by digest";
                "image `{}` of service `{}` uses a variable",
                s.image,
                s.service
            );
        }
        let repository = service_repository(app, counter, &s.service)?;
        let local = engine.local_image(&s.image, &s.service).await?;
        plan.push(PlannedImage {
            service: s,
            repository,
            local,
        });
    }
    Ok(plan)
}

/// Where `push_images` pushes to.
struct PushTarget<'a> {
    engine: &'a Engine,
    registry: &'a RegistryClient,
    host: &'a str,
    tag: &'a str,
    token: &'a str,
    /// The newest release's images, whose blobs this release can mount.
    previous: &'a [ReleaseImage],
}

/// Pushes every planned image; returns the release's images and each service's pin.
async fn push_images(
    to: &PushTarget<'_>,
    plan: &[PlannedImage],
) -> Result<(Vec<ReleaseImage>, BTreeMap<String, String>)> {
    let mut images = Vec::new();
    let mut pins = BTreeMap::new();
    for PlannedImage {
        service: s,
        repository: repo,
        local,
    } in plan
    {
        eprintln!("pushing {} as {}/{repo}:{}", s.image, to.host, to.tag);
        if let Some(config) = &local.config {
            crate::mount::mount_config(to.registry, to.previous, &s.service, repo, config).await?;
        }
        let digest: Digest = to
            .engine
            .push(&s.image, to.host, repo, to.tag, to.token)
            .await?
            .parse()
            .map_err(|e| anyhow!("registry returned a bad digest: {e}"))?;
        // Confirm the registry really holds that manifest under that digest.
        to.registry
            .fetch_manifest(repo, &digest, driftless_oci::MANIFEST_CAP_BYTES)
            .await?;
        pins.insert(s.service.clone(), format!("{repo}@{digest}"));
        images.push(ReleaseImage {
            service: s.service.clone(),
            repository: repo.clone(),
            digest,
            platforms: vec![local.platform.clone()],
            size: local.size,
        });
    }
    Ok((images, pins))
}

/// Uploads the CLI builds to the control plane, before the release that names them.
async fn upload_cli_binaries(
    client: &VendorClient,
    binaries: Vec<(CliBinary, Vec<u8>)>,
) -> Result<Vec<CliBinary>> {
    let mut cli = Vec::new();
    for (binary, bytes) in binaries {
        eprintln!(
            "uploading driftless {} for {} ({} bytes)",
            binary.version, binary.platform, binary.size
        );
        client.upload_artifact(&binary.digest, bytes).await?;
        cli.push(binary);
    }
    Ok(cli)
}

/// Signs the release document and uploads it, the step that makes it exist.
async fn sign_and_upload(
    client: &VendorClient,
    opts: &PublishOptions<'_>,
    key_id: KeyId,
    release: ReleaseDocument,
    registry_host: String,
) -> Result<Published> {
    let payload = serde_json::to_vec(&release)?;
    let mut envelope = Envelope::new(RELEASE_PAYLOAD_TYPE, &payload);
    let signature = opts.signer.sign(&envelope.signing_input()?)?;
    envelope.add_signature(key_id, &signature);
    client.upload_release(opts.app, &envelope).await?;
    Ok(Published {
        release,
        digest: Digest::of(&payload),
        registry_host,
    })
}

/// Refuses, before anything is pushed, a signer whose key the newest root does not
/// trust; returns the key id it signs with.
async fn check_release_key(
    client: &VendorClient,
    root_version: u64,
    signer: &ReleaseSigner,
) -> Result<KeyId> {
    let env = client.root(root_version).await?;
    let root: driftless_wire::root::RootDocument =
        env.decode(driftless_wire::ROOT_PAYLOAD_TYPE, "root document")?;
    let (trusted, _) = root.role_keys(driftless_wire::root::Role::Release);
    signer.key_id(&trusted, root_version)
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > cap {
        driftless_exit::refuse!(
            "{} is {} bytes, larger than the {cap}-byte limit",
            path.display(),
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads every `--cli-binary` and learns its version, refusing bad input before
/// anything is uploaded.
fn read_cli_binaries(
    binaries: &[(String, PathBuf)],
    version_override: Option<&str>,
) -> Result<Vec<(CliBinary, Vec<u8>)>> {
    let mut out: Vec<(CliBinary, Vec<u8>)> = Vec::new();
    for (platform, path) in binaries {
        let valid_platform = platform
            .split_once('/')
            .is_some_and(|(os, arch)| !os.is_empty() && !arch.is_empty() && !arch.contains('/'));
        if !valid_platform {
            driftless_exit::refuse!(
                "--cli-binary platform `{platform}` is not `os/arch` (e.g. linux/amd64)"
            );
        }
        if out.iter().any(|(b, _)| &b.platform == platform) {
            driftless_exit::refuse!("--cli-binary names platform `{platform}` twice");
        }
        let version = match version_override {
            Some(v) => v.parse::<semver::Version>().map_err(|e| {
                driftless_exit::InvalidInput(format!("--cli-version `{v}` is not semver: {e}"))
            })?,
            None => cli_version_of(path)?,
        };
        let bytes = read_capped(path, driftless_wire::api::MAX_ARTIFACT_BYTES)?;
        out.push((
            CliBinary {
                platform: platform.clone(),
                version,
                digest: Digest::of(&bytes),
                size: bytes.len() as u64,
            },
            bytes,
        ));
    }
    Ok(out)
}

/// Runs `path --version`, which prints `driftless X.Y.Z`.
fn cli_version_of(path: &Path) -> Result<semver::Version> {
    let out = std::process::Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| {
            driftless_exit::InvalidInput(format!(
                "cannot run `{} --version` to learn the CLI's version: {e}",
                path.display()
            ))
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .trim()
        .strip_prefix("driftless ")
        .and_then(|v| v.parse::<semver::Version>().ok());
    match version {
        Some(v) if out.status.success() => Ok(v),
        _ => driftless_exit::refuse!(
            hint = "check that --cli-binary names a driftless CLI build";
            "`{} --version` printed `{}` (exit {:?}), not `driftless X.Y.Z`",
            path.display(),
            text.trim(),
            out.status.code()
        ),
    }
}
