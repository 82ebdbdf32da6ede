//! `driftless-vendor init`: a new data directory with its database, keys and root v1.

use anyhow::{anyhow, Context as _, Result};
use driftless_exit::HintExt as _;
use driftless_registry_token::generate_key_material;
use driftless_wire::keys::generate_signing_key;
use driftless_wire::root::{Role, RoleKeys, RootDocument};
use driftless_wire::{Envelope, PublicKey, ROOT_PAYLOAD_TYPE};
use ed25519_dalek::SigningKey;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use crate::clock::now;
use crate::datadir::{create_private_dir, write_private, write_signing_key, DataDir, Settings};
use crate::env;
use crate::output::print_json;

/// Arguments of `init`.
#[derive(clap::Args)]
pub struct InitArgs {
    /// Where the control plane keeps its state.
    #[arg(long, env = env::DATA_DIR)]
    data_dir: PathBuf,
    /// Address `serve` listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// URL installs and the registry reach the control plane at.
    #[arg(long)]
    public_url: Option<String>,
    /// `host:port` of the registry installs pull from.
    #[arg(long, default_value = "127.0.0.1:5000")]
    registry_host: String,
    /// The registry speaks plain HTTP (loopback registries only).
    #[arg(long)]
    registry_insecure: bool,
    /// The database `serve` will use (`postgres://user:password@host:5432/db`), saved
    /// in settings.toml (mode 0600) and migrated now; default: a SQLite file in the
    /// data directory.
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    database_url: Option<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `init` and shows the operator what it must keep: the token (once) and the
/// root fingerprint customers pin.
pub async fn run(args: InitArgs) -> Result<()> {
    let data_dir = args.data_dir;
    let public_url = args
        .public_url
        .unwrap_or_else(|| format!("http://{}", args.listen));
    let dir = DataDir::new(&data_dir);
    let opts = InitOptions {
        listen: args.listen,
        public_url,
        registry_host: args.registry_host,
        registry_insecure: args.registry_insecure,
        database_url: args.database_url,
    };
    let out = init(&dir, &opts, now()).await?;
    if args.json {
        return print_json(&serde_json::json!({
            "operator_token": out.operator_token,
            "root_fingerprint": out.root_fingerprint,
            "data_dir": data_dir,
        }));
    }
    println!("operator token: {}", out.operator_token);
    println!("root fingerprint: {}", out.root_fingerprint);
    eprintln!(
        "initialised {}; the operator token is shown only now.",
        data_dir.display()
    );
    eprintln!("it is the token of the first owner (`user:owner` in the audit log); give others their own with `driftless-vendor user create`.");
    eprintln!("move {} off this machine: it holds the root keys and the release key, which `serve` never needs.", dir.offline().display());
    Ok(())
}

/// Options of `init`.
pub struct InitOptions {
    /// Address `serve` will listen on.
    pub listen: String,
    /// URL installs reach the control plane at.
    pub public_url: String,
    /// `host:port` of the registry.
    pub registry_host: String,
    /// Whether the registry speaks plain HTTP.
    pub registry_insecure: bool,
    /// The database `serve` will use; `None`: the data directory's SQLite file.
    pub database_url: Option<String>,
}

/// What `init` made that the operator must see once.
pub struct InitOutcome {
    /// The operator token (shown once, stored hashed).
    pub operator_token: String,
    /// The fingerprint customers pin.
    pub root_fingerprint: String,
}

const ROOT_KEYS: usize = 3;
const ROOT_THRESHOLD: u32 = 2;
const ROOT_LIFETIME_S: i64 = 365 * 86400;

fn role(
    keys: &[&SigningKey],
    threshold: u32,
    all: &mut BTreeMap<driftless_wire::KeyId, PublicKey>,
) -> RoleKeys {
    let keyids = keys
        .iter()
        .map(|k| {
            let p = PublicKey::from_signing_key(k);
            let id = p.key_id();
            all.insert(id.clone(), p);
            id
        })
        .collect();
    RoleKeys { keyids, threshold }
}

/// Creates the data directory. Refuses one that is already initialised.
pub async fn init(dir: &DataDir, opts: &InitOptions, now: i64) -> Result<InitOutcome> {
    if dir.settings().exists() {
        return Err(anyhow!("{} is already initialised", dir.root().display()))
            .hint("choose another --data-dir or keep using this one");
    }
    // A database given by URL is reached (and migrated) before anything is written, so
    // a wrong URL or a database that is down leaves no half-made data directory.
    if let Some(url) = &opts.database_url {
        crate::database::open_store(url).await?;
    }
    create_private_dir(dir.root())?;
    create_private_dir(&dir.keys())?;
    create_private_dir(&dir.offline())?;
    fs::create_dir_all(dir.trust())
        .with_context(|| format!("cannot create {}", dir.trust().display()))?;

    let root_keys: Vec<SigningKey> = (0..ROOT_KEYS).map(|_| generate_signing_key()).collect();
    let release = generate_signing_key();
    let director = generate_signing_key();
    let checkpoint = generate_signing_key();
    let material = generate_key_material("driftless registry token", now)?;
    let next_material = generate_key_material("driftless registry token (next)", now)?;

    let mut keys = BTreeMap::new();
    let mut roles = BTreeMap::new();
    let refs: Vec<&SigningKey> = root_keys.iter().collect();
    roles.insert(Role::Root, role(&refs, ROOT_THRESHOLD, &mut keys));
    roles.insert(Role::Release, role(&[&release], 1, &mut keys));
    roles.insert(Role::Director, role(&[&director], 1, &mut keys));
    let checkpoint_role = role(&[&checkpoint], 1, &mut keys);
    let root = RootDocument {
        doc_type: "root".into(),
        version: 1,
        expires: now + ROOT_LIFETIME_S,
        keys,
        roles,
        registry_token_cert_sha256: Some(hex::encode(Sha256::digest(material.cert_pem.as_bytes()))),
        checkpoint: Some(checkpoint_role),
    };
    let payload = serde_json::to_vec(&root)?;
    let envelope = Envelope::sign(ROOT_PAYLOAD_TYPE, &payload, &refs);
    let fingerprint = driftless_trust::root_fingerprint(&envelope)?;
    fs::write(dir.root_doc(1), serde_json::to_vec_pretty(&envelope)?)?;

    for (i, k) in root_keys.iter().enumerate() {
        write_signing_key(&dir.root_key(i + 1), k)?;
    }
    write_signing_key(&dir.release_key(), &release)?;
    write_signing_key(&dir.director_key(), &director)?;
    write_signing_key(&dir.checkpoint_key(), &checkpoint)?;
    write_private(&dir.token_key(), material.key_pem.as_bytes())?;
    fs::write(dir.token_cert(), material.cert_pem.as_bytes())?;
    write_private(&dir.next_token_key(), next_material.key_pem.as_bytes())?;
    fs::write(dir.next_token_cert(), next_material.cert_pem.as_bytes())?;
    fs::write(
        dir.token_bundle(),
        format!("{}{}", material.cert_pem, next_material.cert_pem),
    )?;

    let operator_token = new_operator_token();
    let settings = settings(opts, &operator_token);
    write_private(
        &dir.settings(),
        toml::to_string_pretty(&settings)?.as_bytes(),
    )?;
    // Creating the store now runs the migrations, so `serve` starts on a ready database.
    if opts.database_url.is_none() {
        crate::database::open_store(&crate::database::sqlite_url(dir)).await?;
    }
    Ok(InitOutcome {
        operator_token,
        root_fingerprint: fingerprint,
    })
}

/// A fresh operator token; only its SHA-256 is stored.
fn new_operator_token() -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    format!("dlop_{}", hex::encode(secret))
}

/// The settings `serve` starts from, with the defaults a new control plane runs on.
fn settings(opts: &InitOptions, operator_token: &str) -> Settings {
    Settings {
        listen: opts.listen.clone(),
        public_url: opts.public_url.trim_end_matches('/').to_string(),
        database_url: opts.database_url.clone(),
        server: driftless_server::ServerConfig::new(
            opts.registry_host.clone(),
            opts.registry_insecure,
            hex::encode(Sha256::digest(operator_token.as_bytes())),
        ),
    }
}
