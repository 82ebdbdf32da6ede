//! `driftless sync --server URL --license-file FILE` on an air-gapped install: the host
//! goes online without reinstalling. Its key, trust state (root chain, rollback floor,
//! counters), values and running release are kept; only its control plane and install
//! id change, so a release or bundle older than what it accepted is still refused.
//! (The other way needs no switch: `sync --bundle` works on an online install too.)

use anyhow::Result;
use driftless_exit::{code, Coded, HintExt as _};
use driftless_trust::verify_root_v1;
use driftless_wire::checkin::RegisterRequest;
use driftless_wire::PublicKey;

use crate::state::StateDir;
use crate::{now, platform, CLI_VERSION};

/// Registers this host's key with the control plane at `server` and points the
/// install at it; refused (nothing changed) unless the install is air-gapped, the
/// control plane's root is the one pinned, and the license is for the same app.
pub async fn go_online(dir: &StateDir, server: &str, license: &str) -> Result<()> {
    let _lock = dir.lock()?;
    let mut config = dir.load_config()?;
    if config.server != crate::bundle::AIRGAP_SERVER {
        return Err(Coded(
            code::USAGE,
            format!("this install is online already (at {})", config.server),
        ))
        .hint("run `driftless sync` without --server");
    }
    let client = crate::run_trace::client(server)?;
    // The same vendor: its root version 1 must be the one this host pinned at install.
    let root_env = client.root(1).await?;
    verify_root_v1(&root_env, &config.root_fingerprint, now())?;
    let key = dir.load_key()?;
    let hostname = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let reg = client
        .register(&RegisterRequest {
            license_key: license.trim().to_string(),
            public_key: PublicKey::from_signing_key(&key).public,
            hostname,
            platform: platform(),
            cli_version: CLI_VERSION.to_string(),
        })
        .await?;
    if reg.app != config.app {
        return Err(Coded(
            code::USAGE,
            format!(
                "the license is for app `{}`, this host runs `{}`; nothing was changed",
                reg.app, config.app
            ),
        ))
        .hint("pass the license this host was installed with");
    }
    config.server = server.trim_end_matches('/').to_string();
    config.install_id = reg.install_id;
    config.channel = reg.channel;
    dir.save_config(&config)?;
    eprintln!(
        "this install is online now, as {} at {}",
        config.install_id, config.server
    );
    Ok(())
}
