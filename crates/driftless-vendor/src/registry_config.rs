//! `driftless-vendor registry-config`: the `auth: token:` block that makes the
//! registry trust the control plane's registry tokens.

use anyhow::Result;
use std::path::PathBuf;

use crate::datadir::{DataDir, Settings};
use crate::env;

/// Arguments of `registry-config`.
#[derive(clap::Args)]
pub struct RegistryConfigArgs {
    /// The data directory `init` created.
    #[arg(long, env = env::DATA_DIR)]
    data_dir: PathBuf,
}

/// Runs `registry-config`.
pub fn run(args: RegistryConfigArgs) -> Result<()> {
    let dir = DataDir::new(&args.data_dir);
    print!("{}", registry_config(&dir, &dir.load_settings()?));
    Ok(())
}

/// The `auth:` block for distribution's config.
pub fn registry_config(dir: &DataDir, settings: &Settings) -> String {
    format!(
        "# Add this to the registry's config.yml (CNCF distribution 2.8 or 3.x).\nauth:\n  token:\n    realm: {}/v1/registry/token\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
        settings.public_url,
        settings.server.token_service,
        settings.server.token_issuer,
        dir.token_bundle().display()
    )
}
