//! `driftless-vendor serve`: runs the control plane from a data directory.

use anyhow::{Context as _, Result};
use driftless_exit::HintExt as _;
use driftless_registry_token::TokenSigner;
use driftless_server::{AppState, Keys};
use driftless_wire::root::RootDocument;
use driftless_wire::ROOT_PAYLOAD_TYPE;
use std::fs;
use std::path::PathBuf;

use crate::database;
use crate::datadir::{read_signing_key, DataDir};
use crate::env;

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
}

/// Runs `serve`, logging JSON lines on stderr.
pub async fn run(args: ServeArgs) -> Result<()> {
    init_logging();
    serve(
        &DataDir::new(&args.data_dir),
        args.listen.as_deref(),
        args.database_url.as_deref(),
    )
    .await
}

/// JSON logs on stderr, filtered by `DRIFTLESS_LOG` (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(env::LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Reads the keys and root documents `serve` uses; never reads offline keys.
pub fn load_keys(dir: &DataDir) -> Result<Keys> {
    let roots = dir.load_roots()?;
    let newest = roots.last().context("no root document")?;
    let root: RootDocument = newest.decode(ROOT_PAYLOAD_TYPE, "root document")?;
    let director = read_signing_key(&dir.director_key())?;
    let key_pem = fs::read_to_string(dir.token_key())
        .with_context(|| format!("cannot read {}", dir.token_key().display()))?;
    let cert_pem = fs::read_to_string(dir.token_cert())
        .with_context(|| format!("cannot read {}", dir.token_cert().display()))?;
    // The customer CLI shares driftless-exit, so the token crate's errors get their
    // hint here rather than through it.
    let tokens = TokenSigner::from_pem(&key_pem, &cert_pem).hint(
        "keys/registry-token.pem and .crt must be the pair `init` wrote: restore them from a backup, or promote the next pair with `driftless-vendor keys rotate --role registry-token`",
    )?;
    Ok(Keys {
        director,
        tokens,
        roots,
        root,
    })
}

/// Builds the server state from a data directory, on the database `database_url` names
/// (else the settings' or the data directory's; see [`crate::database`]).
pub async fn load_state(dir: &DataDir, database_url: Option<&str>) -> Result<(AppState, String)> {
    let mut settings = dir.load_settings()?;
    let artifacts = settings
        .server
        .artifacts_dir
        .get_or_insert_with(|| dir.artifacts());
    fs::create_dir_all(&*artifacts)
        .with_context(|| format!("cannot create {}", artifacts.display()))?;
    let keys = load_keys(dir)?;
    let url = database::resolve_url(database_url, &settings, dir);
    let store = database::open_store(&url).await?;
    let state = AppState::new(store, keys, settings.server);
    Ok((state, settings.listen))
}

/// Reloads the keys and roots on SIGHUP, after `driftless-vendor keys rotate…`.
fn reload_on_hangup(dir: DataDir, state: AppState) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; restart serve to load rotated keys");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match load_keys(&dir) {
                Ok(keys) => {
                    tracing::info!(root_version = keys.root.version, "reloaded keys and roots");
                    state.replace_keys(keys);
                }
                Err(e) => tracing::error!(error = %e, "reload failed; keeping the keys in force"),
            }
        }
    });
}

/// Serves until SIGINT or SIGTERM.
pub async fn serve(
    dir: &DataDir,
    listen_override: Option<&str>,
    database_url: Option<&str>,
) -> Result<()> {
    let (state, listen) = load_state(dir, database_url).await?;
    let listen = listen_override.unwrap_or(&listen).to_string();
    reload_on_hangup(dir.clone(), state.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))
        .hint("check whether another process is using it, or pass another --listen")?;
    tracing::info!(addr = %listen, "control plane listening");
    driftless_server::serve(listener, state, shutdown_signal()).await?;
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
