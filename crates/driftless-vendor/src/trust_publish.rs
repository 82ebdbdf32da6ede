//! How the trust state reaches every replica: `serve` publishes its data directory's
//! root chain and online keys to the database when they are newer than what the
//! database holds (at start, on SIGHUP, and when a new root file appears), and every
//! replica serves what the database holds, polling it for a newer version.

use anyhow::{anyhow, Context as _, Result};
use driftless_exit::HintExt as _;
use driftless_server::{adopt_newest_trust, keys_from_trust, AppState, Keys};
use driftless_store::{Store, TrustState};
use driftless_wire::root::RootDocument;
use driftless_wire::{Envelope, ROOT_PAYLOAD_TYPE};
use std::fs;
use std::time::Duration;

use crate::clock::now;
use crate::datadir::DataDir;

/// How often every replica checks the database (and its data directory) for a newer
/// root version: a rotation reaches every replica within about this long.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// What publishing a data directory's trust state did.
#[derive(Debug, PartialEq, Eq)]
pub enum Publication {
    /// The data directory holds no trust state (a replica that only reads the database).
    NoneHere,
    /// The database holds this version or a newer one already.
    UpToDate(u64),
    /// This version is now the database's.
    Published(u64),
}

/// Whether the data directory holds a trust state `serve` could publish.
pub fn dir_has_trust(dir: &DataDir) -> bool {
    dir.root_doc(1).exists()
}

/// The newest root version in the data directory (0 when none).
fn dir_root_version(dir: &DataDir) -> u64 {
    (1..).take_while(|v| dir.root_doc(*v).exists()).count() as u64
}

/// Reads the root chain and online keys of a data directory.
pub fn trust_of_dir(dir: &DataDir) -> Result<TrustState> {
    let roots = dir.load_roots()?;
    let read = |path: std::path::PathBuf| {
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    Ok(TrustState {
        root_version: roots.len() as u64,
        roots: roots
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<_, _>>()?,
        director_pem: read(dir.director_key())?,
        token_key_pem: read(dir.token_key())?,
        token_cert_pem: read(dir.token_cert())?,
        // A data directory made before checkpoints existed has none until
        // `keys rotate checkpoint` adds one.
        checkpoint_pem: if dir.checkpoint_key().exists() {
            Some(read(dir.checkpoint_key())?)
        } else {
            None
        },
    })
}

/// Publishes the data directory's trust state if it is newer than the database's and
/// extends the database's root chain (each newer root signed as the next version of
/// the one before). Refuses a data directory of another control plane (its roots
/// differ from the database's), even when it has nothing newer, and keys its newest
/// root does not trust.
pub async fn publish_from_dir(dir: &DataDir, store: &dyn Store) -> Result<Publication> {
    if !dir_has_trust(dir) {
        return Ok(Publication::NoneHere);
    }
    let roots = dir.load_roots()?;
    let stored = store.trust_state().await?;
    let stored_roots = match &stored {
        Some(s) => parse_roots(&s.roots)?,
        None => Vec::new(),
    };
    check_same_chain(&stored_roots, &roots, dir)?;
    if roots.len() <= stored_roots.len() {
        return Ok(Publication::UpToDate(stored_roots.len() as u64));
    }
    check_links(&roots, stored_roots.len().max(1), dir)?;
    let local = trust_of_dir(dir)?;
    keys_from_trust(&local).hint(
        "finish the rotation (`driftless-vendor keys rotate` writes the root last), or restore the keys directory from a backup",
    )?;
    if store.publish_trust(&local).await? {
        Ok(Publication::Published(local.root_version))
    } else {
        Ok(Publication::UpToDate(store.trust_version().await?))
    }
}

fn parse_roots(texts: &[String]) -> Result<Vec<Envelope>> {
    texts
        .iter()
        .map(|t| serde_json::from_str(t).context("the database holds a malformed root document"))
        .collect()
}

/// Requires the roots both hold to be the same documents.
fn check_same_chain(stored: &[Envelope], local: &[Envelope], dir: &DataDir) -> Result<()> {
    let Some(i) = stored.iter().zip(local).position(|(db, here)| db != here) else {
        return Ok(());
    };
    Err(driftless_exit::Conflict(format!(
        "root version {} in {} differs from the one in the database: this data directory belongs to another control plane",
        i + 1,
        dir.trust().display()
    )))
    .hint("point serve at the database this data directory was initialised with, or give this replica a data directory holding only settings.toml")
}

/// Requires each root from index `from` on to be signed as the next version of the
/// one before it.
fn check_links(roots: &[Envelope], from: usize, dir: &DataDir) -> Result<()> {
    let Some(first) = roots.get(from - 1) else {
        return Ok(());
    };
    let mut current: RootDocument = first.decode(ROOT_PAYLOAD_TYPE, "root document")?;
    for env in &roots[from..] {
        current = driftless_trust::verify_root_update(&current, env, now()).map_err(|e| {
            driftless_exit::Coded(
                driftless_exit::code::VERIFICATION,
                format!(
                    "root version {} in {} is not a valid next version: {e}",
                    current.version + 1,
                    dir.trust().display()
                ),
            )
        })?;
    }
    Ok(())
}

/// The keys the database's trust state puts in force.
pub async fn keys_in_force(store: &dyn Store, dir: &DataDir) -> Result<Keys> {
    let trust = store.trust_state().await?.ok_or_else(|| {
        anyhow!(
            "neither the database nor {} holds a root document and keys",
            dir.trust().display()
        )
    });
    let trust = trust
        .map_err(|e| driftless_exit::Coded(driftless_exit::code::NOT_FOUND, e.to_string()))
        .hint(
            "run `driftless-vendor init` for this data directory, or start first a replica whose data directory holds the keys",
        )?;
    Ok(keys_from_trust(&trust)?)
}

/// Publishes the data directory's trust state (if newer) and puts the database's
/// newest in force; logs what happened.
pub async fn sync_once(dir: &DataDir, state: &AppState) {
    match publish_from_dir(dir, state.store.as_ref()).await {
        Ok(Publication::Published(v)) => {
            tracing::info!(
                root_version = v,
                "published the data directory's root and keys to the database"
            );
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot publish the data directory's root and keys; serving the database's")
        }
    }
    adopt(state).await;
}

async fn adopt(state: &AppState) {
    match adopt_newest_trust(state).await {
        Ok(Some(v)) => tracing::info!(
            root_version = v,
            "put the database's newer root and keys in force"
        ),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot use the database's newer root and keys; keeping the ones in force")
        }
    }
}

/// Every [`POLL_INTERVAL`]: publishes a new root that appeared in the data directory,
/// and puts a newer version from the database in force.
pub fn spawn_poller(dir: DataDir, state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(POLL_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            // Reading the files only when a new root file is there keeps a poll to one
            // stat and one small query.
            if dir_root_version(&dir) > state.keys().root.version {
                sync_once(&dir, &state).await;
            } else {
                adopt(&state).await;
            }
        }
    })
}
