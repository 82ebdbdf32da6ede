//! `driftless-vendor customer`: create and list customers.

use anyhow::Result;
use clap::Subcommand;
use driftless_wire::api::CustomerInfo;

use crate::output::{self, Table};
use crate::remote::Remote;

/// Arguments of `customer`.
#[derive(clap::Args)]
pub struct CustomerArgs {
    #[command(subcommand)]
    action: CustomerAction,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Subcommand)]
enum CustomerAction {
    /// Create a customer.
    Create { name: String },
    /// List customers.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `customer` action.
pub async fn run(args: CustomerArgs) -> Result<()> {
    let c = args.remote.client()?;
    match args.action {
        CustomerAction::Create { name } => {
            c.create_customer(&name).await?;
            eprintln!("created customer {name}");
        }
        CustomerAction::List { json } => {
            output::print_list(json, &c.list_customers().await?, table)?
        }
    }
    Ok(())
}

fn table(customers: &[CustomerInfo]) -> Table<2> {
    let mut t = Table::new(["CUSTOMER", "CREATED"]);
    for c in customers {
        t.row([c.name.clone(), output::timestamp(c.created_at)]);
    }
    t
}
