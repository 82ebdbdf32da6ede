//! `driftless-vendor app`: create apps and list them with their channels.

use anyhow::Result;
use clap::Subcommand;
use driftless_wire::api::AppInfo;

use crate::output::{self, Table};
use crate::remote::Remote;

/// Arguments of `app`.
#[derive(clap::Args)]
pub struct AppArgs {
    #[command(subcommand)]
    action: AppAction,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Subcommand)]
enum AppAction {
    /// Create an app (its name is also its registry namespace).
    Create { name: String },
    /// List apps and their channels.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `app` action.
pub async fn run(args: AppArgs) -> Result<()> {
    let c = args.remote.client()?;
    match args.action {
        AppAction::Create { name } => {
            c.create_app(&name).await?;
            eprintln!("created app {name}");
        }
        AppAction::List { json } => output::print_list(json, &c.list_apps().await?, table)?,
    }
    Ok(())
}

/// One row per app; its channels as `name=version` (`-` before the first promote).
fn table(apps: &[AppInfo]) -> Table<2> {
    let mut t = Table::new(["APP", "CHANNELS"]);
    for app in apps {
        let channels: Vec<String> = app
            .channels
            .iter()
            .map(|c| format!("{}={}", c.name, c.version.as_deref().unwrap_or("-")))
            .collect();
        t.row([app.name.clone(), channels.join(", ")]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_wire::api::ChannelInfo;

    #[test]
    fn channels_show_the_version_they_point_at() {
        let apps = [AppInfo {
            name: "acme".into(),
            channels: vec![
                ChannelInfo {
                    name: "stable".into(),
                    version: Some("1.2.0".into()),
                },
                ChannelInfo {
                    name: "beta".into(),
                    version: None,
                },
            ],
        }];
        assert_eq!(
            table(&apps).render(),
            "APP   CHANNELS\nacme  stable=1.2.0, beta=-\n"
        );
    }
}
