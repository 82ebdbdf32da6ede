//! The hidden `generate` command both binaries have: shell completions and man
//! pages, generated from the binary's own clap definitions so they can never disagree
//! with `--help`.

use anyhow::{Context as _, Result};
use clap::Subcommand;
use clap_complete::Shell;
use std::path::PathBuf;

/// Arguments of `generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    what: Generated,
}

#[derive(Subcommand)]
enum Generated {
    /// Print the completion script for a shell on stdout.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Write a man page for the command and one per subcommand (e.g.
    /// driftless-sync.1, driftless-vendor-publish.1) into a directory.
    Man {
        /// The directory to write the pages into; created if missing.
        #[arg(long)]
        out_dir: PathBuf,
    },
}

/// Runs `generate` for `cmd`, the binary's whole command line.
pub fn run(args: GenerateArgs, mut cmd: clap::Command) -> Result<()> {
    match args.what {
        Generated::Completions { shell } => {
            let name = cmd.get_name().to_string();
            clap_complete::generate(shell, &mut cmd, name, &mut std::io::stdout());
        }
        Generated::Man { out_dir } => {
            std::fs::create_dir_all(&out_dir)
                .with_context(|| format!("cannot create {}", out_dir.display()))?;
            clap_mangen::generate_to(cmd, &out_dir)
                .with_context(|| format!("cannot write man pages into {}", out_dir.display()))?;
            eprintln!("wrote man pages into {}", out_dir.display());
        }
    }
    Ok(())
}
