//! `driftless registry-login`: a short-lived credential for `docker login` to the
//! vendor's registry, good for pulling this install's assigned release only. It is
//! asked for with a signed request the control plane accepts once.

use anyhow::Result;

use crate::request_clock::next_request_ms;
use crate::state::StateDir;

/// Prints `user password` for `docker login`.
pub async fn run_command(dir: &StateDir) -> Result<()> {
    let config = dir.load_config()?;
    let key = dir.load_key()?;
    let client = crate::run_trace::client(&config.server)?;
    let signed_at_ms = next_request_ms(dir)?;
    let login = client
        .registry_login(&config.install_id, &key, signed_at_ms)
        .await?;
    println!("{} {}", login.username, login.password);
    eprintln!(
        "use: docker login -u {} --password-stdin <registry>; valid for {} minutes, pull only",
        login.username,
        login.expires_in / 60
    );
    Ok(())
}
