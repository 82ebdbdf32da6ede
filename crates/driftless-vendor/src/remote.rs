//! The control plane a vendor command talks to: `--server`, `--token`, and the API
//! client built from them.

use anyhow::Result;
use driftless_client::VendorClient;
use driftless_exit::HintExt as _;

use crate::env;

/// `--server` and `--token`, shared by every command that calls the control plane.
#[derive(clap::Args, Clone)]
pub struct Remote {
    /// The control plane's URL.
    #[arg(long, env = env::SERVER, default_value = "http://127.0.0.1:8080", global = true)]
    server: String,
    /// Your API token (`user create`, `token create`), or the operator token `init` printed.
    #[arg(long, env = env::TOKEN, hide_env_values = true, global = true)]
    token: Option<String>,
}

impl Remote {
    /// A client for the control plane; refuses to go on without a token.
    pub fn client(&self) -> Result<VendorClient> {
        let token = self
            .token
            .as_deref()
            .ok_or_else(|| driftless_exit::InvalidInput("no API token".into()))
            .hint(format!("pass --token or set {}", env::TOKEN))?;
        Ok(VendorClient::new(&self.server, token)?)
    }
}
