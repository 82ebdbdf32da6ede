//! `driftless config get|set|list` over the values the release declares.

use anyhow::Result;
use clap::Subcommand;
use driftless_descriptor::validate_value;
use driftless_exit::{code, Coded, HintExt as _};
use driftless_wire::release::ConfigVar;
use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;

use crate::secret_input;
use crate::state::{Config, StateDir};

/// Arguments of `driftless config`.
#[derive(clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    action: ConfigAction,
}

/// `config` actions.
#[derive(Subcommand)]
enum ConfigAction {
    /// Print one value (a secret only with --reveal).
    Get {
        /// The value's name.
        name: String,
        /// Print a secret's value.
        #[arg(long)]
        reveal: bool,
    },
    /// Set values: NAME=VALUE …, all checked before any is written; or one secret from
    /// standard input (`NAME -` or `NAME --stdin`) or a file (`NAME --from-file FILE`).
    Set {
        /// NAME=VALUE pairs; or one NAME, then `-` to read its value from standard input.
        #[arg(required = true, value_name = "NAME=VALUE|NAME")]
        pairs: Vec<String>,
        /// Read the value of the one NAME from standard input (not echoed).
        #[arg(long)]
        stdin: bool,
        /// Read the value of the one NAME from FILE.
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
    },
    /// List every declared value with its type and whether it is set.
    List,
    /// Ask for every value the release declares, showing its description and default
    /// (a secret is not echoed). Off a terminal: list the required values not set and
    /// exit 17 if there are any.
    Init,
}

/// The newest verified release: the one assigned, else the one running. `install`
/// receives it, so it is there before the first sync.
pub fn release_version(dir: &StateDir) -> Result<String> {
    dir.load_sync()
        .assigned_version
        .or_else(|| dir.current_version())
        .ok_or_else(|| {
            driftless_exit::InvalidInput(
                "no release has been received yet, so no values are declared".into(),
            )
        })
        .hint("the vendor has not assigned a release to this install yet; run `driftless sync` once it has")
}

/// The schema of the newest verified release.
pub fn schema(dir: &StateDir) -> Result<Vec<ConfigVar>> {
    let version = release_version(dir)?;
    Ok(dir.load_verified(&version)?.1.config_schema)
}

/// Refuses a name the license owns: entitlements reach the compose file signed by the
/// vendor and the customer cannot change them.
fn refuse_entitlement(name: &str) -> Result<()> {
    if name.starts_with(driftless_wire::entitlements::ENV_PREFIX) {
        driftless_exit::refuse!(
            hint = "entitlements come from your license; ask your vendor to change it";
            "`{name}` is an entitlement of this install's license and is read-only"
        );
    }
    Ok(())
}

fn find<'a>(schema: &'a [ConfigVar], name: &str) -> Result<&'a ConfigVar> {
    if let Some(var) = schema.iter().find(|v| v.name == name) {
        return Ok(var);
    }
    let names: Vec<&str> = schema.iter().map(|v| v.name.as_str()).collect();
    driftless_exit::refuse!(
        hint = "check the name; `driftless config list` shows every declared value";
        "unknown config key `{name}`; the release declares: {}",
        names.join(", ")
    )
}

/// Runs `driftless config`.
pub fn run_command(dir: &StateDir, args: ConfigArgs) -> Result<()> {
    let mut config = dir.load_config()?;
    let schema = schema(dir)?;
    match args.action {
        ConfigAction::Get { name, reveal } => {
            println!("{}", get(&config, &schema, &name, reveal)?);
        }
        ConfigAction::Set {
            pairs,
            stdin,
            from_file,
        } => {
            let input = SetInput::parse(pairs, stdin, from_file)?;
            config.values = set(&config, &schema, input)?;
            dir.save_config(&config)?;
            eprintln!("saved; run `driftless sync` to apply");
        }
        ConfigAction::List => list(&config, &schema),
        ConfigAction::Init => {
            if !std::io::stdin().is_terminal() {
                return require_all(&config, &schema);
            }
            config.values = crate::config_prompt::ask_all(&config.values, &schema)?;
            dir.save_config(&config)?;
            eprintln!("saved; run `driftless preflight` to check this host, then `driftless sync`");
        }
    }
    Ok(())
}

/// The required values that are neither set nor defaulted.
pub fn missing<'a>(config: &Config, schema: &'a [ConfigVar]) -> Vec<&'a ConfigVar> {
    schema
        .iter()
        .filter(|v| v.required && v.default.is_none() && !config.values.contains_key(&v.name))
        .collect()
}

/// Off a terminal: prints each required value not set (name, type, description) and
/// fails with exit 17 if there is one.
fn require_all(config: &Config, schema: &[ConfigVar]) -> Result<()> {
    let missing = missing(config, schema);
    if missing.is_empty() {
        eprintln!("every required value is set");
        return Ok(());
    }
    for var in &missing {
        let description = var.description.as_deref().unwrap_or("");
        println!("{}\t{}\t{description}", var.name, var.kind.name());
    }
    let names: Vec<&str> = missing.iter().map(|v| v.name.as_str()).collect();
    Err(Coded(
        code::CONFIG_MISSING,
        format!("required values are not set: {}", names.join(", ")),
    ))
    .hint("set each with `driftless config set NAME=VALUE` (a secret: `driftless config set NAME -`), or run `driftless config init` on a terminal")
}

/// Where `config set` takes its values from.
#[derive(Debug, PartialEq, Eq)]
pub enum SetInput {
    /// NAME=VALUE pairs given on the command line.
    Pairs(Vec<String>),
    /// One NAME whose value is read from a file, or standard input when `None`.
    Read {
        /// The value's name.
        name: String,
        /// The file to read it from.
        file: Option<PathBuf>,
    },
}

impl SetInput {
    /// Tells the two forms apart; refuses a mix of them (exit 2).
    fn parse(pairs: Vec<String>, stdin: bool, file: Option<PathBuf>) -> Result<SetInput> {
        let dash = matches!(pairs.as_slice(), [_, d] if d == "-");
        if !(stdin || dash || file.is_some()) {
            return Ok(SetInput::Pairs(pairs));
        }
        let usage = |what: &str, hint: &str| {
            Err(Coded(code::USAGE, what.to_string())).hint(hint.to_string())
        };
        if [stdin, dash, file.is_some()].iter().filter(|x| **x).count() > 1 {
            return usage(
                "`-`, --stdin and --from-file each say where the value comes from; pass one",
                "`driftless config set NAME -` reads standard input, `--from-file FILE` a file",
            );
        }
        let name = &pairs[0];
        if pairs.len() != 1 + usize::from(dash) || name.contains('=') {
            return usage(
                "a value read from standard input or a file sets one NAME, given without `=`",
                "run `driftless config set NAME -` once for each value",
            );
        }
        Ok(SetInput::Read {
            name: name.clone(),
            file,
        })
    }
}

/// Refuses a value the release does not declare or whose type refuses it.
pub fn check_values(schema: &[ConfigVar], values: &BTreeMap<String, String>) -> Result<()> {
    for (name, value) in values {
        refuse_entitlement(name)?;
        validate_value(find(schema, name)?, value)?;
    }
    Ok(())
}

/// The values after `config set`: every new one checked before any is kept. A secret
/// given on the command line is kept, with a warning that others can read it.
pub fn set(
    config: &Config,
    schema: &[ConfigVar],
    input: SetInput,
) -> Result<BTreeMap<String, String>> {
    let mut next = config.values.clone();
    match input {
        SetInput::Pairs(pairs) => {
            for pair in &pairs {
                let (name, value) = pair
                    .split_once('=')
                    .ok_or_else(|| {
                        driftless_exit::InvalidInput(format!("`{pair}` is not NAME=VALUE"))
                    })
                    .hint("write NAME=VALUE, or `NAME -` to read a secret from standard input")?;
                refuse_entitlement(name)?;
                let var = find(schema, name)?;
                validate_value(var, value)?;
                if var.secret {
                    secret_input::warn_on_command_line(
                        &format!("the secret `{name}`"),
                        &format!("set it with `driftless config set {name} -` (standard input) or `--from-file FILE`"),
                    );
                }
                next.insert(name.to_string(), value.to_string());
            }
        }
        SetInput::Read { name, file } => {
            refuse_entitlement(&name)?;
            let var = find(schema, &name)?;
            let what = format!("the value of `{name}`");
            let value = match file {
                Some(path) => secret_input::from_file(&path, &what)?,
                None => secret_input::from_stdin(&what)?,
            };
            validate_value(var, &value)?;
            next.insert(name, value);
        }
    }
    Ok(next)
}

/// The value `config get NAME` prints: the one set, else the default. A secret is
/// refused (exit 3, nothing on stdout) unless `reveal`, so a script that captures
/// stdout never mistakes a placeholder for the value.
fn get(config: &Config, schema: &[ConfigVar], name: &str, reveal: bool) -> Result<String> {
    let var = find(schema, name)?;
    let value = config
        .values
        .get(name)
        .cloned()
        .or_else(|| var.default.clone());
    match value {
        Some(_) if var.secret && !reveal => driftless_exit::refuse!(
            hint = "pass --reveal to print it";
            "`{name}` is a secret, so it is not printed"
        ),
        Some(v) => Ok(v),
        None => driftless_exit::refuse!(
            hint = format!("set it with `driftless config set {name}=...`");
            "`{name}` is not set and has no default"
        ),
    }
}

/// Prints every declared value with its type; a secret only says whether it is set.
fn list(config: &Config, schema: &[ConfigVar]) {
    for var in schema {
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

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_wire::release::ConfigType;

    fn var(name: &str, default: Option<&str>, secret: bool) -> ConfigVar {
        ConfigVar {
            name: name.into(),
            kind: ConfigType::String,
            default: default.map(str::to_string),
            required: false,
            secret,
            description: None,
        }
    }

    fn config(values: &[(&str, &str)]) -> Config {
        Config {
            server: "http://127.0.0.1:8080".into(),
            install_id: "ins_1".into(),
            app: "acme".into(),
            channel: "stable".into(),
            project: "acme".into(),
            root_fingerprint: "sha256:00".into(),
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            policy: crate::policy::Policy::Auto,
        }
    }

    #[test]
    fn get_refuses_a_secret_without_reveal() {
        let schema = [var("API_KEY", None, true)];
        let c = config(&[("API_KEY", "s3cret")]);
        let err = get(&c, &schema, "API_KEY", false).unwrap_err();
        assert_eq!(
            driftless_exit::exit_code(&err),
            driftless_exit::code::INVALID_INPUT
        );
        let shown = driftless_exit::render(&err);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(
            shown,
            "error: `API_KEY` is a secret, so it is not printed\n\nhint: pass --reveal to print it"
        );
        assert_eq!(get(&c, &schema, "API_KEY", true).unwrap(), "s3cret");
    }

    #[test]
    fn get_refuses_a_secret_default_without_reveal() {
        let schema = [var("TOKEN", Some("dflt"), true)];
        assert!(get(&config(&[]), &schema, "TOKEN", false).is_err());
        assert_eq!(get(&config(&[]), &schema, "TOKEN", true).unwrap(), "dflt");
    }

    #[test]
    fn get_prints_a_plain_value_or_its_default() {
        let schema = [var("GREETING", Some("Hello"), false)];
        assert_eq!(
            get(&config(&[]), &schema, "GREETING", false).unwrap(),
            "Hello"
        );
        let set = config(&[("GREETING", "Hi")]);
        assert_eq!(get(&set, &schema, "GREETING", false).unwrap(), "Hi");
    }

    #[test]
    fn config_set_refuses_an_entitlement() {
        // Even when a release declares the name, the license owns it.
        let schema = [var("DRIFTLESS_ENTITLEMENT_MAX_USERS", None, false)];
        let before = config(&[]);
        for input in [
            SetInput::Pairs(vec!["DRIFTLESS_ENTITLEMENT_MAX_USERS=500".into()]),
            SetInput::Read {
                name: "DRIFTLESS_ENTITLEMENT_MAX_USERS".into(),
                file: None,
            },
        ] {
            let err = set(&before, &schema, input).unwrap_err();
            assert_eq!(
                driftless_exit::exit_code(&err),
                driftless_exit::code::INVALID_INPUT
            );
            let line = driftless_exit::one_line(&err);
            assert!(line.contains("read-only"), "{line}");
        }
        let values = BTreeMap::from([("DRIFTLESS_ENTITLEMENT_MAX_USERS".into(), "1".into())]);
        assert!(check_values(&schema, &values).is_err());
    }
}
