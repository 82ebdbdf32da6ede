//! `--bundle FILE`: installing and syncing an air-gapped host from an air-gap bundle.
//!
//! Only the transport differs from an online sync: the bundle's root chain, assignment
//! and release document go through the same verifier (root chain, director signature,
//! expiry, sequence, release digest, rollback floor, app pin), and then every blob is
//! checked against what the release names. All of it happens in memory before anything
//! is written, so a refused bundle changes nothing. The verified bundle is then served
//! by a registry on loopback and the release is applied exactly as online.
//!
//! The host keeps the verified blobs of the releases it applied from bundles (the
//! current one and the one before), so a delta bundle (`--since`) need not carry them.

use anyhow::{Context as _, Result};
use driftless_bundle::{Base, Bundle, KeptBlobs, LoopbackRegistry, VerifiedBundle};
use driftless_exit::code::BUNDLE_REFUSED;
use driftless_exit::HintExt as _;
use driftless_trust::{
    verify_assignment, verify_release, verify_root_update, verify_root_v1, TrustState, Verified,
};
use driftless_wire::checkin::RegistryAccess;
use driftless_wire::release::Assignment;
use driftless_wire::{Envelope, ASSIGNMENT_PAYLOAD_TYPE};
use std::path::Path;

use crate::state::{Config, StateDir};

/// What `config.toml` names as the control plane of an air-gapped install: a name that
/// never resolves, so nothing is ever sent anywhere.
pub const AIRGAP_SERVER: &str = "http://air-gapped.invalid";

/// How long the loopback registry's (unused) token is said to live: the pull never renews.
const LOOPBACK_TOKEN_S: u64 = 7 * 24 * 3600;

/// A `sync --bundle`: the file, and the customer's registry to push it into, if any.
#[derive(Clone, Copy)]
pub struct BundleSync<'a> {
    /// The bundle.
    pub file: &'a Path,
    /// `--registry HOST`.
    pub registry: Option<&'a str>,
    /// For an install that is online: its license key (bundles are issued to the
    /// license's installs, not to one install).
    pub license: Option<&'a str>,
}

/// A bundle that passed every check, with what to persist once the caller goes ahead.
pub struct Checked {
    /// Root versions newer than the held one, verified in order.
    pub new_roots: Vec<(u64, Envelope)>,
    /// The verified assignment and release, and the trust state to persist.
    pub verified: Verified,
    /// The assignment envelope.
    pub assignment: Envelope,
    /// The release envelope.
    pub release: Envelope,
    /// The bundle, every blob checked.
    pub bundle: VerifiedBundle,
}

/// Wraps a refusal so it reads and exits as one: exit 22, nothing applied.
fn refused(file: &Path, e: impl Into<anyhow::Error>) -> anyhow::Error {
    let e: anyhow::Error = e.into();
    let line = format!(
        "bundle {} refused: {}; nothing was applied",
        file.display(),
        driftless_exit::one_line(&e)
    );
    e.context(driftless_exit::Coded(BUNDLE_REFUSED, line))
}

/// The blobs this host kept from the bundles it applied.
fn kept(dir: &StateDir) -> KeptBlobs {
    KeptBlobs::new(&dir.root().join("bundle-blobs"))
}

/// The install id a bundle's assignment must name: an air-gapped install's own; for
/// an install that is online, its license's (the key is needed: the config has none).
pub fn install_id(config: &Config, license: Option<&str>) -> Result<String> {
    if config.server == AIRGAP_SERVER {
        return Ok(config.install_id.clone());
    }
    let Some(key) = license else {
        return Err(driftless_exit::Coded(
            driftless_exit::code::USAGE,
            "this install is online: a bundle is issued to its license, whose key is needed".into(),
        ))
        .hint("pass --license-file FILE (or set DRIFTLESS_LICENSE) with --bundle");
    };
    Ok(driftless_wire::airgap::license_install_id_of_key(key))
}

/// Opens and checks `file` against `trust` for `install_id`, persisting nothing; a
/// delta bundle's left-out blobs come from what `installed` (none at install) kept.
pub fn check(
    trust: &TrustState,
    install_id: &str,
    file: &Path,
    now: i64,
    installed: Option<&StateDir>,
) -> Result<Checked> {
    let bundle = Bundle::open(file).map_err(|e| refused(file, e))?;
    let mut state = trust.clone();
    let mut new_roots = Vec::new();
    for env in &bundle.header.roots {
        let version = root_version(env);
        if version <= state.root.version {
            continue;
        }
        state.root = verify_root_update(&state.root, env, now).map_err(|e| refused(file, e))?;
        new_roots.push((state.root.version, env.clone()));
    }
    let a_env = bundle.header.assignment.clone();
    let r_env = bundle.header.release.clone();
    // Bundles have their own sequence floor (the director's clock), so that online
    // assignments (numbered per install) still verify after a switch back online; an
    // online sequence is far below any bundle's, so it never lowers this one.
    let online_floor = state.highest_sequence;
    state.highest_sequence = online_floor.max(state.highest_bundle_sequence);
    let assignment =
        verify_assignment(&state, install_id, &a_env, now).map_err(|e| refused(file, e))?;
    let mut verified =
        verify_release(&state, &assignment, &r_env, now).map_err(|e| refused(file, e))?;
    verified.next_state.root = state.root.clone();
    verified.next_state.highest_sequence = online_floor;
    verified.next_state.highest_bundle_sequence = state.highest_sequence.max(assignment.sequence);
    // `since` is not signed: only a version (never a path) is looked up with it.
    if let Some(since) = &bundle.index.since {
        if since.parse::<semver::Version>().is_err() {
            let why = anyhow::anyhow!("its base release `{since}` is not a version");
            return Err(refused(file, why));
        }
    }
    let base_release = match (&bundle.index.since, installed) {
        (None, _) => None,
        (Some(since), Some(dir)) if dir.release_dir(since).is_dir() => {
            Some(dir.load_verified(since).map_err(|e| refused(file, e))?.1)
        }
        (Some(since), _) => {
            return Err(refused(
                file,
                anyhow::anyhow!(
                    "it is a delta bundle on top of release {since}, which this host never applied; ask your vendor for a full bundle (without --since)"
                ),
            ))
        }
    };
    let kept = installed.map(kept);
    let base = base_release
        .as_ref()
        .zip(kept.as_ref())
        .map(|(release, kept)| Base { release, kept });
    let bundle = bundle
        .verify(&verified.release, base)
        .map_err(|e| refused(file, e))?;
    Ok(Checked {
        new_roots,
        verified,
        assignment: a_env,
        release: r_env,
        bundle,
    })
}

fn root_version(env: &Envelope) -> u64 {
    env.decode::<driftless_wire::root::RootDocument>(
        driftless_wire::ROOT_PAYLOAD_TYPE,
        "root document",
    )
    .map_or(0, |r| r.version)
}

/// The trust anchor of a new air-gapped install: the bundle's root version 1, checked
/// against the fingerprint the vendor published, pinned to the app its assignment names.
pub fn anchor(file: &Path, fingerprint: &str, now: i64) -> Result<(Envelope, TrustState)> {
    let bundle = Bundle::open(file).map_err(|e| refused(file, e))?;
    let root_env = bundle
        .header
        .roots
        .iter()
        .find(|e| root_version(e) == 1)
        .cloned()
        .ok_or_else(|| refused(file, anyhow::anyhow!("it carries no root version 1")))?;
    let root = verify_root_v1(&root_env, fingerprint, now).map_err(|e| refused(file, e))?;
    // The app is read before the director's signature is checked, as online install
    // takes it from the registration's answer; `check` then verifies the assignment.
    let a: Assignment = bundle
        .header
        .assignment
        .decode(ASSIGNMENT_PAYLOAD_TYPE, "assignment")
        .map_err(|e| refused(file, e))?;
    Ok((root_env, TrustState::new(root, &a.app)))
}

/// Persists what `checked` verified: new roots, the documents, the raised counters,
/// and the release's blobs (kept for the next delta bundle, with the running release's;
/// older ones are dropped).
pub fn persist(dir: &StateDir, checked: &Checked) -> Result<String> {
    for (v, env) in &checked.new_roots {
        dir.save_root(*v, env)?;
    }
    let version = checked.verified.release.version.to_string();
    dir.save_verified(&version, &checked.assignment, &checked.release)?;
    dir.save_trust(&checked.verified.next_state)?;
    let kept = kept(dir);
    kept.keep(&checked.bundle)
        .context("cannot keep the bundle's blobs for the next delta bundle")?;
    let running = dir.current_version();
    let versions: Vec<&str> = [Some(version.as_str()), running.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    kept.retain(&versions)
        .context("cannot drop the blobs of releases no longer needed")?;
    Ok(version)
}

/// Serves the verified bundle on loopback, on the port the current release was pulled
/// from when it is free (so image references stay the same from one bundle to the next).
pub async fn serve(
    dir: &StateDir,
    bundle: VerifiedBundle,
) -> Result<(LoopbackRegistry, RegistryAccess)> {
    let previous_port = dir
        .current_version()
        .and_then(|v| std::fs::read_to_string(dir.release_dir(&v).join("registry")).ok())
        .and_then(|h| {
            h.trim()
                .strip_prefix("127.0.0.1:")
                .and_then(|p| p.parse().ok())
        });
    let registry = LoopbackRegistry::start(bundle, previous_port)
        .await
        .context("cannot serve the bundle to the engine on loopback")?;
    let access = RegistryAccess {
        host: registry.host(),
        insecure: true,
        token: String::new(),
        expires_in: LOOPBACK_TOKEN_S,
        issued_at: String::new(),
    };
    Ok((registry, access))
}
