//! `driftless-vendor license`: create, list and revoke licenses.
//!
//! A license key is a secret: it is printed once, by `create`, and never by `list`.
//!
//! Terms: `--expires` (a date, an RFC 3339 time, or `never`), `--grace` (a duration such
//! as `14d`), `--seats` (a number or `unlimited`), `--allow-channel` (repeatable: the
//! channels its installs may follow; `--channel` stays the one new installs start on) and `--entitlement KEY=VALUE` (repeatable; VALUE is
//! `int:N`, `bool:true|false`, `str:TEXT`, or untyped: `true`/`false` is a bool, a
//! whole number an int, anything else a string).

use anyhow::{Context as _, Result};
use clap::Subcommand;
use driftless_wire::api::{LicenseInfo, LicenseTermsInfo};
use driftless_wire::entitlements::{self, Entitlement};

use crate::output::{self, Table};
use crate::remote::Remote;

/// Arguments of `license`.
#[derive(clap::Args)]
pub struct LicenseArgs {
    #[command(subcommand)]
    action: LicenseAction,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Subcommand)]
enum LicenseAction {
    /// Create a license and print its key (shown once).
    Create {
        /// Customer name.
        #[arg(long)]
        customer: String,
        /// App name.
        #[arg(long)]
        app: String,
        /// Channel new installs follow (must be allowed, when `--allow-channel` is given).
        #[arg(long)]
        channel: String,
        #[command(flatten)]
        terms: TermsArgs,
    },
    /// Change a license's terms; what is not given stays as it is.
    Update {
        /// The license id.
        id: String,
        #[command(flatten)]
        terms: TermsArgs,
        /// Drop an entitlement (repeatable).
        #[arg(long = "remove-entitlement", value_name = "KEY")]
        remove: Vec<String>,
    },
    /// Show a license and its terms.
    Show {
        /// The license id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List licenses.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a license and every install of it.
    Revoke { id: String },
}

/// A license's terms as flags.
#[derive(clap::Args)]
struct TermsArgs {
    /// When it expires: `2027-01-31`, `2027-01-31T12:00:00Z`, or `never`.
    #[arg(long)]
    expires: Option<String>,
    /// How long installs keep running after expiry, warned (e.g. `14d`, `0s`).
    #[arg(long)]
    grace: Option<String>,
    /// Most installs active at once, or `unlimited`.
    #[arg(long)]
    seats: Option<String>,
    /// A channel its installs may follow (repeatable; replaces the list). Without
    /// any, every channel of the app is allowed.
    #[arg(long = "allow-channel", value_name = "CHANNEL")]
    channels: Vec<String>,
    /// KEY=VALUE, typed: `max_users=int:50`, `feature_sso=bool:true`, `tier=str:gold`
    /// (repeatable; adds or replaces that key).
    #[arg(long = "entitlement", value_name = "KEY=VALUE")]
    entitlements: Vec<String>,
}

impl TermsArgs {
    /// `terms` with these flags applied.
    fn apply(&self, mut terms: LicenseTermsInfo) -> Result<LicenseTermsInfo> {
        if let Some(e) = &self.expires {
            terms.expires_at = parse_expiry(e)?;
        }
        if let Some(g) = &self.grace {
            let d = humantime::parse_duration(g).map_err(|e| {
                driftless_exit::InvalidInput(format!("--grace `{g}`: {e} (e.g. 14d, 12h)"))
            })?;
            terms.grace_s = i64::try_from(d.as_secs())
                .map_err(|_| driftless_exit::InvalidInput(format!("--grace `{g}` is too long")))?;
        }
        if let Some(s) = &self.seats {
            terms.seats = match s.as_str() {
                "unlimited" => None,
                n => Some(n.parse().map_err(|_| {
                    driftless_exit::InvalidInput(format!(
                        "--seats `{n}` is not a number or `unlimited`"
                    ))
                })?),
            };
        }
        if !self.channels.is_empty() {
            terms.channels = self.channels.clone();
        }
        for text in &self.entitlements {
            let (key, value) = entitlements::parse_assignment(text)
                .map_err(|e| driftless_exit::InvalidInput(e.to_string()))?;
            terms.entitlements.insert(key, value);
        }
        Ok(terms)
    }
}

/// `never`, a date (midnight UTC) or an RFC 3339 time, as Unix seconds.
fn parse_expiry(text: &str) -> Result<Option<i64>> {
    if text == "never" {
        return Ok(None);
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    let t = humantime::parse_rfc3339_weak(&full).map_err(|_| {
        driftless_exit::InvalidInput(format!(
            "--expires `{text}` is not a date (2027-01-31), an RFC 3339 time or `never`"
        ))
    })?;
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| driftless_exit::InvalidInput(format!("--expires `{text}` is before 1970")))?
        .as_secs();
    Ok(Some(
        i64::try_from(secs).context("--expires is too far ahead")?,
    ))
}

/// A Unix time as RFC 3339 (UTC).
fn time_text(at: i64) -> String {
    u64::try_from(at).map_or_else(
        |_| at.to_string(),
        |s| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(s),
            )
            .to_string()
        },
    )
}

/// The terms as `license show` prints them, one per line.
fn terms_text(terms: &LicenseTermsInfo) -> String {
    let mut out = String::new();
    let expires = terms.expires_at.map_or_else(|| "never".into(), time_text);
    out.push_str(&format!("expires:      {expires}\n"));
    out.push_str(&format!(
        "grace:        {}\n",
        humantime::format_duration(std::time::Duration::from_secs(
            u64::try_from(terms.grace_s).unwrap_or(0)
        ),)
    ));
    let seats = terms
        .seats
        .map_or_else(|| "unlimited".into(), |n| n.to_string());
    out.push_str(&format!("seats:        {seats}\n"));
    let channels = if terms.channels.is_empty() {
        "any".to_string()
    } else {
        terms.channels.join(", ")
    };
    out.push_str(&format!("channels:     {channels}\n"));
    for (key, value) in &terms.entitlements {
        let kind = match value {
            Entitlement::Bool(_) => "bool",
            Entitlement::Int(_) => "int",
            Entitlement::Str(_) => "str",
        };
        out.push_str(&format!(
            "entitlement:  {key}={kind}:{value}  ({})\n",
            entitlements::env_name(key)
        ));
    }
    out
}

/// Runs a `license` action.
pub async fn run(args: LicenseArgs) -> Result<()> {
    let c = args.remote.client()?;
    match args.action {
        LicenseAction::Create {
            customer,
            app,
            channel,
            terms,
        } => {
            let terms = terms.apply(LicenseTermsInfo::default())?;
            let l = c.create_license(&customer, &app, &channel, &terms).await?;
            println!("{}", l.key.unwrap_or_default());
            eprintln!(
                "created license {} for {customer} ({app}/{channel}); the key is shown only now",
                l.id
            );
        }
        LicenseAction::Update { id, terms, remove } => {
            let mut new = terms.apply(c.get_license(&id).await?.terms)?;
            for key in &remove {
                if new.entitlements.remove(key).is_none() {
                    driftless_exit::refuse!("license `{id}` has no entitlement `{key}`");
                }
            }
            let shown = c.set_license_terms(&id, &new).await?;
            print!("{}", terms_text(&shown.terms));
            eprintln!("updated license {id}; its installs see it at their next check-in");
        }
        LicenseAction::Show { id, json } => {
            let detail = c.get_license(&id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
            } else {
                let l = &detail.license;
                println!("license:      {}", l.id);
                println!("customer:     {}", l.customer);
                println!(
                    "app:          {} (installs start on `{}`)",
                    l.app, l.channel
                );
                println!("revoked:      {}", if l.revoked { "yes" } else { "no" });
                print!("{}", terms_text(&detail.terms));
            }
        }
        LicenseAction::List { json } => output::print_list(json, &c.list_licenses().await?, table)?,
        LicenseAction::Revoke { id } => {
            c.revoke_license(&id).await?;
            eprintln!("revoked license {id} and its installs");
        }
    }
    Ok(())
}

/// The licenses without their keys: the table has no column for one, so a key the
/// server ever sent by mistake still would not reach a terminal or a log.
fn table(licenses: &[LicenseInfo]) -> Table<5> {
    let mut t = Table::new(["LICENSE", "CUSTOMER", "APP", "CHANNEL", "REVOKED"]);
    for l in licenses {
        t.row([
            l.id.clone(),
            l.customer.clone(),
            l.app.clone(),
            l.channel.clone(),
            if l.revoked { "yes" } else { "no" }.into(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_never_shows_a_key() {
        let licenses = [LicenseInfo {
            id: "lic_1".into(),
            customer: "Example Corp".into(),
            app: "acme".into(),
            channel: "stable".into(),
            revoked: true,
            key: Some("dl_secret".into()),
        }];
        let text = table(&licenses).render();
        assert!(!text.contains("dl_secret"), "{text}");
        assert_eq!(
            text,
            "LICENSE  CUSTOMER      APP   CHANNEL  REVOKED\nlic_1    Example Corp  acme  stable   yes\n"
        );
    }
}
