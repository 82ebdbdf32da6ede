//! `driftless-vendor user create|list|revoke` and `token create|list|revoke|rotate`:
//! the people and machines that call the control plane, each with a role and an
//! optional app scope (see the README's roles table). A token is printed once, on
//! stdout; only its hash is kept.

use std::io::Read as _;

use anyhow::{Context as _, Result};
use driftless_wire::principals::{
    CreateToken, CreateUser, IssuedToken, RotateToken, TokenInfo, UserInfo,
};

use crate::output::{self, Table};
use crate::remote::Remote;

/// Arguments of `user`.
#[derive(clap::Args)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Subcommand)]
enum UserCommand {
    /// Create a user; prints their API token, once.
    Create {
        /// The user's name (a-z, 0-9, '.', '_', '-').
        name: String,
        /// owner, release-manager, support or ci-publisher.
        #[arg(long, value_parser = ["owner", "release-manager", "support", "ci-publisher"])]
        role: String,
        /// The one app the user may act on (every app when absent).
        #[arg(long)]
        app: Option<String>,
        /// Read a dashboard password from stdin (one line, at least 12 characters).
        #[arg(long)]
        password_stdin: bool,
        /// How long the API token lives, e.g. `90d`, `12h`.
        #[arg(long, default_value = "90d")]
        expires_in: String,
        /// Print JSON (the token and what it is).
        #[arg(long)]
        json: bool,
    },
    /// The users, by name.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a user and every token of theirs.
    Revoke {
        /// The user's name.
        name: String,
    },
}

/// Arguments of `token`.
#[derive(clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Subcommand)]
enum TokenCommand {
    /// Create a CI token that publishes to one app (`--app`), or another token for a
    /// user (`--user`); prints it, once.
    Create {
        /// The app a CI token may publish releases of.
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        app: Option<String>,
        /// The user the token acts for (with the user's role and scope).
        #[arg(long)]
        user: Option<String>,
        /// How long it lives, e.g. `30d`, `12h`.
        #[arg(long, default_value = "90d")]
        expires_in: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every token (never a secret).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token; every replica refuses it within seconds.
    Revoke {
        /// The token's id (`token list`).
        id: String,
    },
    /// Replace a token by a new one with the same user, role and scope; prints it.
    Rotate {
        /// The token's id (`token list`).
        id: String,
        /// How long the new one lives (the old one's lifetime when absent).
        #[arg(long)]
        expires_in: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Seconds in a duration the user typed (`90d`, `12h`).
fn seconds(text: &str) -> Result<i64> {
    let d = humantime::parse_duration(text).map_err(|e| {
        driftless_exit::InvalidInput(format!("invalid duration `{text}`: {e} (e.g. 90d, 12h)"))
    })?;
    Ok(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Runs a `user` command.
pub async fn run_user(args: UserArgs) -> Result<()> {
    let client = args.remote.client()?;
    match args.command {
        UserCommand::Create {
            name,
            role,
            app,
            password_stdin,
            expires_in,
            json,
        } => {
            let password = password_stdin.then(read_password).transpose()?;
            let req = CreateUser {
                name: name.clone(),
                role,
                app,
                password,
                token_expires_in_s: Some(seconds(&expires_in)?),
            };
            let issued = client.create_user(&req).await?;
            print_issued(&issued, json, &format!("created user {name}"))
        }
        UserCommand::List { json } => {
            output::print_list(json, &client.list_users().await?, users_table)
        }
        UserCommand::Revoke { name } => {
            client.revoke_user(&name).await?;
            eprintln!("revoked user {name} and every token of theirs");
            Ok(())
        }
    }
}

/// Runs a `token` command.
pub async fn run_token(args: TokenArgs) -> Result<()> {
    let client = args.remote.client()?;
    match args.command {
        TokenCommand::Create {
            app,
            user,
            expires_in,
            json,
        } => {
            let req = CreateToken {
                app,
                user,
                expires_in_s: Some(seconds(&expires_in)?),
            };
            let issued = client.create_token(&req).await?;
            print_issued(&issued, json, "created token")
        }
        TokenCommand::List { json } => {
            output::print_list(json, &client.list_tokens().await?, tokens_table)
        }
        TokenCommand::Revoke { id } => {
            client.revoke_token(&id).await?;
            eprintln!("revoked token {id}");
            Ok(())
        }
        TokenCommand::Rotate {
            id,
            expires_in,
            json,
        } => {
            let expires_in_s = expires_in.as_deref().map(seconds).transpose()?;
            let issued = client
                .rotate_token(&id, &RotateToken { expires_in_s })
                .await?;
            print_issued(
                &issued,
                json,
                &format!("revoked token {id}; its replacement"),
            )
        }
    }
}

fn read_password() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the password from stdin")?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// The token is data (stdout); what it is goes to the person (stderr).
fn print_issued(issued: &IssuedToken, json: bool, what: &str) -> Result<()> {
    if json {
        return output::print_json(issued);
    }
    println!("{}", issued.token);
    let t = &issued.info;
    eprintln!(
        "{what}: token {} ({}{}), expires {}; it is not shown again",
        t.id,
        t.role,
        t.app
            .as_deref()
            .map(|a| format!(" of {a}"))
            .unwrap_or_default(),
        output::timestamp(t.expires_at)
    );
    Ok(())
}

fn users_table(users: &[UserInfo]) -> Table<5> {
    let mut t = Table::new(["USER", "ROLE", "APP", "DASHBOARD", "REVOKED"]);
    for u in users {
        t.row([
            u.name.clone(),
            u.role.clone(),
            output::or_dash(u.app.as_deref()),
            if u.dashboard_login { "yes" } else { "no" }.into(),
            u.revoked_at
                .map(output::timestamp)
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    t
}

fn tokens_table(tokens: &[TokenInfo]) -> Table<6> {
    let mut t = Table::new(["TOKEN", "USER", "ROLE", "APP", "EXPIRES", "REVOKED"]);
    for k in tokens {
        t.row([
            k.id.clone(),
            output::or_dash(k.user.as_deref()),
            k.role.clone(),
            output::or_dash(k.app.as_deref()),
            output::timestamp(k.expires_at),
            k.revoked_at
                .map(output::timestamp)
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    t
}
