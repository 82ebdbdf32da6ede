//! `driftless-vendor webhook add|list|remove|deliveries`: the URLs the control plane
//! POSTs an app's events to (signed; see the README's Webhooks section), and how the
//! recent deliveries went.

use anyhow::Result;
use driftless_wire::webhook::{CreateWebhook, DeliveryInfo, WebhookInfo, EVENT_TYPES};

use crate::output::{self, Table};
use crate::remote::Remote;

/// Arguments of `webhook`.
#[derive(clap::Args)]
pub struct WebhookArgs {
    #[command(subcommand)]
    command: WebhookCommand,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Subcommand)]
enum WebhookCommand {
    /// Register a URL for an app's events; prints the signing secret, once.
    Add {
        /// App name.
        #[arg(long)]
        app: String,
        /// Where events are POSTed (https://, or http:// on a private network).
        #[arg(long)]
        url: String,
        /// Event types to send, comma-separated (default: all).
        #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(EVENT_TYPES))]
        events: Vec<String>,
        /// Print JSON (the webhook and its secret).
        #[arg(long)]
        json: bool,
    },
    /// The app's webhooks (never their secrets).
    List {
        /// App name.
        #[arg(long)]
        app: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a webhook and its queued deliveries.
    Remove {
        /// App name.
        #[arg(long)]
        app: String,
        /// The webhook's number (`webhook list`).
        id: u64,
    },
    /// The newest deliveries of the app's webhooks, with their outcome.
    Deliveries {
        /// App name.
        #[arg(long)]
        app: String,
        /// How many (1 to 1000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `webhook` command.
pub async fn run(args: WebhookArgs) -> Result<()> {
    let client = args.remote.client()?;
    match args.command {
        WebhookCommand::Add {
            app,
            url,
            events,
            json,
        } => {
            let created = client
                .create_webhook(&app, &CreateWebhook { url, events })
                .await?;
            if json {
                return output::print_json(&created);
            }
            // The secret is data (stdout); the note is for the person (stderr).
            println!("{}", created.secret);
            eprintln!(
                "registered webhook {} for {app}; the secret above signs its deliveries and is not shown again",
                created.webhook.id
            );
            Ok(())
        }
        WebhookCommand::List { app, json } => {
            let hooks = client.list_webhooks(&app).await?;
            output::print_list(json, &hooks, hooks_table)
        }
        WebhookCommand::Remove { app, id } => {
            client.remove_webhook(&app, id).await?;
            eprintln!("removed webhook {id} of {app}");
            Ok(())
        }
        WebhookCommand::Deliveries { app, limit, json } => {
            let found = client.webhook_deliveries(&app, limit).await?;
            output::print_list(json, &found, deliveries_table)
        }
    }
}

fn hooks_table(hooks: &[WebhookInfo]) -> Table<4> {
    let mut t = Table::new(["ID", "URL", "EVENTS", "CREATED"]);
    for h in hooks {
        let events = if h.events.is_empty() {
            "all".to_string()
        } else {
            h.events.join(",")
        };
        t.row([
            h.id.to_string(),
            h.url.clone(),
            events,
            output::timestamp(h.created_at),
        ]);
    }
    t
}

fn deliveries_table(found: &[DeliveryInfo]) -> Table<7> {
    let mut t = Table::new([
        "ID", "WEBHOOK", "EVENT", "STATE", "ATTEMPTS", "LAST", "QUEUED",
    ]);
    for d in found {
        let last = match (d.last_status, &d.last_error) {
            (_, Some(e)) => e.clone(),
            (Some(s), None) => s.to_string(),
            (None, None) => "-".into(),
        };
        t.row([
            d.id.to_string(),
            d.webhook_id.to_string(),
            d.event.clone(),
            d.state.clone(),
            d.attempts.to_string(),
            last,
            output::timestamp(d.created_at),
        ]);
    }
    t
}
