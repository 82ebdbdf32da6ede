//! `driftless-bench`: the load generator. `seed` fills a control plane's database with
//! simulated installs, `run` drives their real check-ins, `static` drives a static file
//! (nginx) with the same client, so `scripts/bench` can compare the two.

mod checkin;
mod driver;
mod http1;
mod identity;
mod measure;
mod outcome;
mod report;
mod run;
mod seed;
mod static_file;
mod stats;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The Driftless load generator.
#[derive(Parser)]
#[command(name = "driftless-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fill a control plane's database with an app, a release and N installs.
    Seed(seed::SeedArgs),
    /// Drive real check-ins of seeded installs and print the figures.
    Run(run::RunArgs),
    /// Drive GETs of one static file with the same client (for nginx).
    Static(static_file::StaticArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Seed(args) => driftless_exit::run_async(seed::run(args)),
        // One thread: the client must cost as little as it can, and nothing else runs.
        Command::Run(args) => driftless_exit::run_async_current_thread(async move {
            let json = args.json();
            outcome::show(&run::run(args).await?, json)
        }),
        Command::Static(args) => driftless_exit::run_async_current_thread(async move {
            let json = args.json();
            outcome::show(&static_file::run(args).await?, json)
        }),
    }
}
