//! `driftless-vendor serve`: runs the control plane from a data directory.

use anyhow::{Context as _, Result};
use driftless_exit::HintExt as _;
use driftless_server::AppState;
use driftless_store::Store;
use sha2::{Digest as _, Sha256};
use std::fs;
use std::path::PathBuf;

use crate::database;
use crate::datadir::DataDir;
use crate::env;
use crate::trust_publish;

/// Arguments of `serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The data directory `init` created.
    #[arg(long, env = env::DATA_DIR)]
    data_dir: PathBuf,
    /// Override the listen address from the settings.
    #[arg(long)]
    listen: Option<String>,
    /// The database: `postgres://user:password@host:5432/db` or `sqlite:///path`;
    /// overrides `database_url` in the settings (default: the data dir's SQLite file).
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    database_url: Option<String>,
    /// A file holding the scrape token: Prometheus reads `/metrics` with it, and it
    /// reads nothing else (the operator token reads `/metrics` too).
    #[arg(long, env = env::METRICS_TOKEN_FILE)]
    metrics_token_file: Option<PathBuf>,
}

/// Runs `serve`, logging JSON lines on stderr.
pub async fn run(args: ServeArgs) -> Result<()> {
    init_logging();
    let scrape_token_sha256 = match &args.metrics_token_file {
        Some(path) => Some(scrape_token_hash(path)?),
        None => None,
    };
    let options = ServeOptions {
        listen: args.listen.as_deref(),
        database_url: args.database_url.as_deref(),
        scrape_token_sha256,
    };
    serve(&DataDir::new(&args.data_dir), options).await
}

/// What `serve` is told besides the data directory.
#[derive(Default)]
pub struct ServeOptions<'a> {
    /// Listen here instead of the settings' address.
    pub listen: Option<&'a str>,
    /// The database, instead of the settings' or the data directory's.
    pub database_url: Option<&'a str>,
    /// Hex SHA-256 of the scrape token, instead of the settings'.
    pub scrape_token_sha256: Option<String>,
}

/// The SHA-256 of the scrape token in `path` (its first line); only the hash is kept.
fn scrape_token_hash(path: &std::path::Path) -> Result<String> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read the scrape token file {}", path.display()))
        .hint("pass --metrics-token-file with a readable file holding the token")?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.len() < 16 {
        return Err(driftless_exit::InvalidInput(format!(
            "the scrape token in {} is shorter than 16 characters",
            path.display()
        )))
        .hint("write a long random token, e.g. `openssl rand -hex 32`");
    }
    Ok(hex::encode(Sha256::digest(token.as_bytes())))
}

/// JSON logs on stderr, filtered by `DRIFTLESS_LOG` (default `info`); the format is
/// [`driftless_server::log_format`]'s.
fn init_logging() {
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = std::env::var(env::LOG).ok();
    driftless_server::log_format::json_subscriber(filter.as_deref(), std::io::stderr).init();
}

/// Builds the server state from a data directory, on the database `database_url` names
/// (else the settings' or the data directory's; see [`crate::database`]): publishes the
/// directory's root and keys to the database if they are newer, then serves what the
/// database holds.
pub async fn load_state(
    dir: &DataDir,
    database_url: Option<&str>,
    scrape_token_sha256: Option<String>,
) -> Result<(AppState, String)> {
    let mut settings = dir.load_settings()?;
    if scrape_token_sha256.is_some() {
        settings.server.metrics.scrape_token_sha256 = scrape_token_sha256;
    }
    let url = database::resolve_url(database_url, &settings, dir);
    let store = database::open_store(&url).await?;
    publish_at_start(dir, store.as_ref()).await?;
    let keys = trust_publish::keys_in_force(store.as_ref(), dir).await?;
    artifacts_into_database(dir, &settings, store.as_ref()).await?;
    settings.server.artifacts_in_database = true;
    let state = AppState::new(store, keys, settings.server);
    Ok((state, settings.listen))
}

/// Publishes the data directory's trust state if newer than the database's. A data
/// directory whose keys are unusable stops the start only when the database has
/// nothing to serve instead.
async fn publish_at_start(dir: &DataDir, store: &dyn Store) -> Result<()> {
    match trust_publish::publish_from_dir(dir, store).await {
        Ok(trust_publish::Publication::Published(v)) => {
            tracing::info!(
                root_version = v,
                "published the data directory's root and keys to the database"
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) if store.trust_version().await? > 0 && !is_foreign_chain(&e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot publish the data directory's root and keys; serving the database's");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Whether `e` says the data directory belongs to another control plane.
fn is_foreign_chain(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<driftless_exit::Conflict>())
}

/// Moves CLI binaries an earlier version stored as files under `artifacts/` into the
/// database (each checked against its name), so every replica serves them.
async fn artifacts_into_database(
    dir: &DataDir,
    settings: &crate::datadir::Settings,
    store: &dyn Store,
) -> Result<()> {
    let from = settings
        .server
        .artifacts_dir
        .clone()
        .unwrap_or_else(|| dir.artifacts());
    let Ok(entries) = fs::read_dir(&from) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if digest != format!("sha256:{name}") {
            tracing::warn!(path = %path.display(), "artifact file does not hash to its name; not imported");
            continue;
        }
        if store
            .put_artifact(&digest, &bytes, crate::clock::now())
            .await?
        {
            tracing::info!(%digest, "artifact file moved into the database");
        }
    }
    Ok(())
}

/// On SIGHUP (after `driftless-vendor keys rotate…`) publishes the data directory's
/// root and keys at once rather than at the next poll.
fn reload_on_hangup(dir: DataDir, state: AppState) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; rotated keys are picked up by the poll");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            trust_publish::sync_once(&dir, &state).await;
            tracing::info!(
                root_version = state.keys().root.version,
                "reloaded keys and roots"
            );
        }
    });
}

/// Serves until SIGINT or SIGTERM.
pub async fn serve(dir: &DataDir, options: ServeOptions<'_>) -> Result<()> {
    let (state, listen) =
        load_state(dir, options.database_url, options.scrape_token_sha256).await?;
    let listen = options.listen.unwrap_or(&listen).to_string();
    reload_on_hangup(dir.clone(), state.clone());
    let poller = trust_publish::spawn_poller(dir.clone(), state.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))
        .hint("check whether another process is using it, or pass another --listen")?;
    tracing::info!(addr = %listen, "control plane listening");
    let served = driftless_server::serve(listener, state, shutdown_signal()).await;
    poller.abort();
    served?;
    tracing::info!("control plane stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
