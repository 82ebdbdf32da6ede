//! `driftless-vendor keys`: list the roles of the newest root, rotate the root keys,
//! and rotate one role's key with an overlap so installs in the field keep converging.
//!
//! Every rotation writes root version N+1, signed by a threshold of N's root keys and
//! of its own. New key files are written first and the root document last (atomically),
//! so a failure halfway leaves the old root in force and a `serve` that sees the new
//! root finds its keys in place. A running `serve` publishes the new root and keys to
//! the database within seconds (or at once on SIGHUP), and every replica on that
//! database puts them in force.

use anyhow::{anyhow, bail, Context as _, Result};
use driftless_exit::HintExt as _;
use driftless_registry_token::generate_key_material;
use driftless_wire::keys::{generate_signing_key, key_id_of};
use driftless_wire::root::{Role, RoleKeys, RootDocument};
use driftless_wire::{Envelope, KeyId, PublicKey, ROOT_PAYLOAD_TYPE};
use ed25519_dalek::SigningKey;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::clock::now;
use crate::datadir::{read_signing_key, write_private, write_signing_key, DataDir};
use crate::env;
use crate::output::print_json;

/// Arguments of `keys`.
#[derive(clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    action: KeysAction,
    /// The data directory `init` created.
    #[arg(long, env = env::DATA_DIR, global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum KeysAction {
    /// Show every role's key ids, threshold and the root's expiry.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace the root keys: root N+1 signed by a threshold of N's keys and its own.
    RotateRoot,
    /// Replace one role's key, trusting the previous one for one more root version.
    Rotate {
        /// The role to rotate.
        #[arg(long, value_enum)]
        role: RotatedRole,
    },
}

/// Runs a `keys` action.
pub fn run(args: KeysArgs) -> Result<()> {
    let data_dir = args
        .data_dir
        .ok_or_else(|| driftless_exit::InvalidInput("no data directory given".into()))
        .hint(format!("pass --data-dir or set {}", env::DATA_DIR))?;
    let dir = DataDir::new(&data_dir);
    match args.action {
        KeysAction::List { json: true } => print_json(&list(&dir)?)?,
        KeysAction::List { json: false } => print_listing(&list(&dir)?),
        KeysAction::RotateRoot => {
            let v = rotate_root(&dir, now())?;
            println!("{v}");
            eprintln!("wrote root version {v}; a serve on this data directory publishes it to every replica within seconds (SIGHUP: at once); then move the new root keys in {} offline", dir.offline().display());
        }
        KeysAction::Rotate { role } => {
            let v = rotate_role(&dir, role, now())?;
            println!("{v}");
            eprintln!("wrote root version {v} trusting the new {role:?} key and the previous one; a serve on this data directory publishes it to every replica within seconds (SIGHUP: at once)");
        }
    }
    Ok(())
}

/// The root's version and expiry, then one line per role with its short key ids.
fn print_listing(l: &KeyListing) {
    println!(
        "root version {} (expires at {})",
        l.root_version, l.root_expires
    );
    for (role, k) in &l.roles {
        let ids: Vec<&str> = k.keyids.iter().map(|i| &i.0[..16.min(i.0.len())]).collect();
        println!(
            "{role:<10} threshold {} of {}: {}",
            k.threshold,
            k.keyids.len(),
            ids.join(", ")
        );
    }
}

/// How long a new root version is valid.
const ROOT_LIFETIME_S: i64 = 365 * 86400;

/// Which role `rotate` replaces.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum RotatedRole {
    /// The vendor CI key that signs release documents.
    Release,
    /// The control plane's key that signs assignments.
    Director,
    /// The control plane's key that signs registry tokens.
    RegistryToken,
    /// The control plane's key that signs audit log checkpoints (adds one to a root
    /// made before checkpoints existed).
    Checkpoint,
}

fn newest_root(dir: &DataDir) -> Result<RootDocument> {
    let roots = dir.load_roots()?;
    let newest = roots.last().context("no root document")?;
    Ok(newest.decode(ROOT_PAYLOAD_TYPE, "root document")?)
}

/// Every Ed25519 key in the offline-keys directory, by key id.
fn offline_keys(dir: &DataDir) -> Result<BTreeMap<KeyId, SigningKey>> {
    let mut out = BTreeMap::new();
    let entries = fs::read_dir(dir.offline())
        .with_context(|| format!("cannot read {}", dir.offline().display()))
        .hint(
            "rotations need the offline root keys there: bring them back from where you keep them",
        )?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "pem") {
            if let Ok(key) = read_signing_key(&path) {
                out.insert(key_id_of(&key), key);
            }
        }
    }
    Ok(out)
}

/// The root keys of `root` found offline, at least its threshold of them.
fn signing_root_keys(
    root: &RootDocument,
    offline: &BTreeMap<KeyId, SigningKey>,
) -> Result<Vec<SigningKey>> {
    let rk = root
        .roles
        .get(&Role::Root)
        .context("root document has no root role")?;
    let found: Vec<SigningKey> = rk
        .keyids
        .iter()
        .filter_map(|id| offline.get(id).cloned())
        .collect();
    if found.len() < rk.threshold as usize {
        driftless_exit::refuse!(
            hint = "bring them back";
            "only {} of the {} root keys needed to sign root version {} are in the offline-keys directory",
            found.len(),
            rk.threshold,
            root.version + 1
        );
    }
    Ok(found.into_iter().take(rk.threshold as usize).collect())
}

/// Drops keys no role names any more.
fn prune_keys(root: &mut RootDocument) {
    let used: Vec<KeyId> = root
        .roles
        .values()
        .chain(&root.checkpoint)
        .flat_map(|r| r.keyids.clone())
        .collect();
    root.keys.retain(|id, _| used.contains(id));
}

fn add_key(root: &mut RootDocument, key: &SigningKey) -> KeyId {
    let p = PublicKey::from_signing_key(key);
    let id = p.key_id();
    root.keys.insert(id.clone(), p);
    id
}

/// Signs `next` with `old_signers` and `new_signers` and writes it as the newest root.
fn write_root(
    dir: &DataDir,
    next: &RootDocument,
    old_signers: &[SigningKey],
    new_signers: &[SigningKey],
) -> Result<()> {
    let env = sign_root(dir, next, old_signers, new_signers)?;
    commit_root(dir, next.version, &env)
}

/// Signs `next` with `old_signers` and `new_signers`, checked to verify as the next
/// link of the chain; writes nothing.
fn sign_root(
    dir: &DataDir,
    next: &RootDocument,
    old_signers: &[SigningKey],
    new_signers: &[SigningKey],
) -> Result<Envelope> {
    let payload = serde_json::to_vec(next)?;
    let mut signers: Vec<&SigningKey> = old_signers.iter().collect();
    for k in new_signers {
        if !signers.iter().any(|s| key_id_of(s) == key_id_of(k)) {
            signers.push(k);
        }
    }
    let env = Envelope::sign(ROOT_PAYLOAD_TYPE, &payload, &signers);
    let current = newest_root(dir)?;
    driftless_trust::verify_root_update(&current, &env, now())?;
    Ok(env)
}

/// Writes root `version` atomically (a running `serve` polls for it, and must never
/// read half a file), refusing to replace one that exists.
fn commit_root(dir: &DataDir, version: u64, env: &Envelope) -> Result<()> {
    let path = dir.root_doc(version);
    if path.exists() {
        bail!("{} exists already; another rotation ran", path.display());
    }
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_vec_pretty(env)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn next_version(current: &RootDocument, now: i64) -> RootDocument {
    let mut next = current.clone();
    next.version += 1;
    next.expires = now + ROOT_LIFETIME_S;
    next
}

/// Replaces the root keys; returns the new root version.
pub fn rotate_root(dir: &DataDir, now: i64) -> Result<u64> {
    let current = newest_root(dir)?;
    let offline = offline_keys(dir)?;
    let old_signers = signing_root_keys(&current, &offline)?;
    let threshold = current.roles.get(&Role::Root).map_or(2, |r| r.threshold);
    let mut next = next_version(&current, now);
    let fresh: Vec<SigningKey> = (0..3).map(|_| generate_signing_key()).collect();
    let ids = fresh.iter().map(|k| add_key(&mut next, k)).collect();
    next.roles.insert(
        Role::Root,
        RoleKeys {
            keyids: ids,
            threshold: threshold.min(3),
        },
    );
    prune_keys(&mut next);
    for (i, k) in fresh.iter().enumerate() {
        write_signing_key(
            &dir.offline()
                .join(format!("root-v{}-{}.pem", next.version, i + 1)),
            k,
        )?;
    }
    write_root(dir, &next, &old_signers, &fresh)?;
    Ok(next.version)
}

/// Rotates one role's key, keeping the previous key trusted for one more root version.
pub fn rotate_role(dir: &DataDir, role: RotatedRole, now: i64) -> Result<u64> {
    let current = newest_root(dir)?;
    let offline = offline_keys(dir)?;
    let signers = signing_root_keys(&current, &offline)?;
    let mut next = next_version(&current, now);
    match role {
        RotatedRole::Release | RotatedRole::Director => {
            let wire_role = if matches!(role, RotatedRole::Release) {
                Role::Release
            } else {
                Role::Director
            };
            let fresh = generate_signing_key();
            let id = add_key(&mut next, &fresh);
            let rk = next.roles.entry(wire_role).or_insert(RoleKeys {
                keyids: vec![],
                threshold: 1,
            });
            // The newest key first, then the one it replaces (kept for the overlap).
            let previous = rk.keyids.first().cloned();
            rk.keyids = std::iter::once(id).chain(previous).collect();
            prune_keys(&mut next);
            match role {
                RotatedRole::Release => {
                    let staged = dir.offline().join(format!("release-v{}.pem", next.version));
                    write_signing_key(&staged, &fresh)?;
                    write_root(dir, &next, &signers, &[])?;
                    swap_in(&staged, &dir.release_key())?;
                }
                _ => {
                    // The key first and the root last: a `serve` that sees the new
                    // root finds the key it trusts next to it.
                    let env = sign_root(dir, &next, &signers, &[])?;
                    let staged = dir.keys().join(format!("director-v{}.pem", next.version));
                    write_signing_key(&staged, &fresh)?;
                    swap_in(&staged, &dir.director_key())?;
                    if let Err(e) = commit_root(dir, next.version, &env) {
                        swap_back(&dir.director_key())?;
                        return Err(e);
                    }
                }
            }
        }
        RotatedRole::Checkpoint => {
            let fresh = generate_signing_key();
            let id = add_key(&mut next, &fresh);
            let rk = next.checkpoint.get_or_insert(RoleKeys {
                keyids: vec![],
                threshold: 1,
            });
            // The newest key first, then the one it replaces: checkpoints it signed
            // still verify against this root.
            let previous = rk.keyids.first().cloned();
            rk.keyids = std::iter::once(id).chain(previous).collect();
            prune_keys(&mut next);
            // The key first and the root last, as for the director.
            let env = sign_root(dir, &next, &signers, &[])?;
            let staged = dir.keys().join(format!("checkpoint-v{}.pem", next.version));
            write_signing_key(&staged, &fresh)?;
            swap_in(&staged, &dir.checkpoint_key())?;
            if let Err(e) = commit_root(dir, next.version, &env) {
                swap_back(&dir.checkpoint_key())?;
                return Err(e);
            }
        }
        RotatedRole::RegistryToken => {
            // The next certificate is already in the registry's bundle: promote it,
            // stage a new next one, and keep the old one in the bundle for tokens in flight.
            let old_cert = fs::read_to_string(dir.token_cert())?;
            let next_key = fs::read_to_string(dir.next_token_key())?;
            let next_cert = fs::read_to_string(dir.next_token_cert())?;
            let staged = generate_key_material("driftless registry token (next)", now)?;
            next.registry_token_cert_sha256 =
                Some(hex::encode(Sha256::digest(next_cert.as_bytes())));
            // The key files first and the root (which pins the new certificate) last.
            let env = sign_root(dir, &next, &signers, &[])?;
            write_replace(&dir.token_key(), next_key.as_bytes(), true)?;
            write_replace(&dir.token_cert(), next_cert.as_bytes(), false)?;
            write_replace(&dir.next_token_key(), staged.key_pem.as_bytes(), true)?;
            write_replace(&dir.next_token_cert(), staged.cert_pem.as_bytes(), false)?;
            let bundle = format!("{next_cert}{}{old_cert}", staged.cert_pem);
            write_replace(&dir.token_bundle(), bundle.as_bytes(), false)?;
            commit_root(dir, next.version, &env)?;
        }
    }
    Ok(next.version)
}

/// Moves `staged` over `target`, keeping the old one as `<target>.prev`.
fn swap_in(staged: &Path, target: &Path) -> Result<()> {
    let prev = target.with_extension("prev.pem");
    if target.exists() {
        fs::rename(target, &prev)
            .with_context(|| format!("cannot move {} aside", target.display()))?;
    }
    fs::rename(staged, target)
        .with_context(|| format!("cannot put {} in place", target.display()))?;
    Ok(())
}

/// Undoes [`swap_in`]: puts `<target>.prev` back as `target`.
fn swap_back(target: &Path) -> Result<()> {
    let prev = target.with_extension("prev.pem");
    fs::rename(&prev, target).with_context(|| {
        format!(
            "cannot put {} back; restore it from {}",
            target.display(),
            prev.display()
        )
    })
}

fn write_replace(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    if private {
        write_private(&tmp, bytes)?;
    } else {
        fs::write(&tmp, bytes)?;
    }
    fs::rename(&tmp, path).map_err(|e| anyhow!("cannot replace {}: {e}", path.display()))
}

/// What `keys list` prints.
#[derive(serde::Serialize)]
pub struct KeyListing {
    /// The newest root version.
    pub root_version: u64,
    /// When it expires, Unix seconds.
    pub root_expires: i64,
    /// Each role: key ids (newest first) and threshold.
    pub roles: BTreeMap<String, RoleKeys>,
    /// SHA-256 of the registry-token certificate in use.
    pub registry_token_cert_sha256: Option<String>,
}

/// The roles of the newest root.
pub fn list(dir: &DataDir) -> Result<KeyListing> {
    let root = newest_root(dir)?;
    Ok(KeyListing {
        root_version: root.version,
        root_expires: root.expires,
        roles: root
            .roles
            .iter()
            .map(|(r, k)| (r.name().to_string(), k.clone()))
            .chain(
                root.checkpoint
                    .iter()
                    .map(|k| (Role::Checkpoint.name().to_string(), k.clone())),
            )
            .collect(),
        registry_token_cert_sha256: root.registry_token_cert_sha256,
    })
}
