//! `driftless config get|set|list` over the values the release declares, and
//! `driftless registry-login`.

use anyhow::Result;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::Subcommand;
use driftless_descriptor::validate_value;
use driftless_wire::release::ConfigVar;
use ed25519_dalek::Signer as _;

use crate::state::StateDir;

/// `config` actions.
#[derive(Subcommand)]
pub enum ConfigAction {
    /// Print one value (a secret only with --reveal).
    Get {
        /// The value's name.
        name: String,
        /// Print a secret's value.
        #[arg(long)]
        reveal: bool,
    },
    /// Set values: NAME=VALUE …; all are checked before any is written.
    Set {
        /// NAME=VALUE pairs.
        #[arg(required = true)]
        pairs: Vec<String>,
    },
    /// List every declared value with its type and whether it is set.
    List,
}

/// The schema of the newest verified release.
fn schema(dir: &StateDir) -> Result<Vec<ConfigVar>> {
    let record = dir.load_sync();
    let version = record.assigned_version.or_else(|| dir.current_version()).ok_or_else(|| {
        driftless_exit::InvalidInput("no release has been received yet, so no values are declared; run `driftless sync` first".into())
    })?;
    Ok(dir.load_verified(&version)?.1.config_schema)
}

fn find<'a>(schema: &'a [ConfigVar], name: &str) -> Result<&'a ConfigVar> {
    schema.iter().find(|v| v.name == name).ok_or_else(|| {
        let names: Vec<&str> = schema.iter().map(|v| v.name.as_str()).collect();
        driftless_exit::InvalidInput(format!(
            "unknown config key `{name}`; the release declares: {}",
            names.join(", ")
        ))
        .into()
    })
}

/// Runs a `config` action.
pub fn run(dir: &StateDir, action: ConfigAction) -> Result<()> {
    let mut config = dir.load_config()?;
    let schema = schema(dir)?;
    match action {
        ConfigAction::Get { name, reveal } => {
            let var = find(&schema, &name)?;
            let value = config
                .values
                .get(&name)
                .cloned()
                .or_else(|| var.default.clone());
            match value {
                Some(_) if var.secret && !reveal => println!("(secret; pass --reveal to print it)"),
                Some(v) => println!("{v}"),
                None => driftless_exit::refuse!("`{name}` is not set and has no default; set it with `driftless config set {name}=...`"),
            }
        }
        ConfigAction::Set { pairs } => {
            let mut next = config.values.clone();
            for pair in &pairs {
                let (name, value) = pair.split_once('=').ok_or_else(|| {
                    driftless_exit::InvalidInput(format!("`{pair}` is not NAME=VALUE"))
                })?;
                let var = find(&schema, name)?;
                validate_value(var, value)?;
                next.insert(name.to_string(), value.to_string());
            }
            config.values = next;
            dir.save_config(&config)?;
            eprintln!("saved; run `driftless sync` to apply");
        }
        ConfigAction::List => {
            for var in &schema {
                let shown = match config.values.get(&var.name) {
                    Some(_) if var.secret => "(secret, set)".to_string(),
                    Some(v) => v.clone(),
                    None => match &var.default {
                        Some(d) => format!("{d} (default)"),
                        None if var.required => "(required, not set)".into(),
                        None => "(not set)".into(),
                    },
                };
                println!("{}\t{}\t{}", var.name, var.kind.name(), shown);
            }
        }
    }
    Ok(())
}

/// Prints `user password` for `docker login`, valid for ten minutes.
pub fn registry_login(dir: &StateDir) -> Result<()> {
    let config = dir.load_config()?;
    let key = dir.load_key()?;
    let ts = crate::now();
    let sig = key.sign(&driftless_wire::checkin::registry_login_input(
        &config.install_id,
        ts,
    ));
    let password = format!("{ts}.{}", B64.encode(sig.to_bytes()));
    println!("{} {password}", config.install_id);
    eprintln!(
        "use: docker login -u {} --password-stdin <registry>; valid for 10 minutes, pull only",
        config.install_id
    );
    Ok(())
}
