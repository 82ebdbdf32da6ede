//! `driftless-vendor license`: create, list and revoke licenses.
//!
//! A license key is a secret: it is printed once, by `create`, and never by `list`.

use anyhow::Result;
use clap::Subcommand;
use driftless_wire::api::LicenseInfo;

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
        /// Channel new installs follow.
        #[arg(long)]
        channel: String,
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

/// Runs a `license` action.
pub async fn run(args: LicenseArgs) -> Result<()> {
    let c = args.remote.client()?;
    match args.action {
        LicenseAction::Create {
            customer,
            app,
            channel,
        } => {
            let l = c.create_license(&customer, &app, &channel).await?;
            println!("{}", l.key.unwrap_or_default());
            eprintln!(
                "created license {} for {customer} ({app}/{channel}); the key is shown only now",
                l.id
            );
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
