//! `driftless-release`: the parts of scripts/release that are easier to get right in
//! Rust than in shell. Today one: the SBOM of the Rust dependency tree.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use driftless_sbom::{cyclonedx_json_for, Subject};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Tooling of Driftless's own releases (run by scripts/release).
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prints a CycloneDX JSON SBOM of the crates the ROOTS link, from `cargo metadata
    /// --format-version 1 --locked --filter-platform TARGET` JSON.
    Sbom {
        /// The `cargo metadata` JSON; `-` reads standard input.
        #[arg(long)]
        metadata: PathBuf,
        /// The name the SBOM describes.
        #[arg(long)]
        name: String,
        /// The version the SBOM describes.
        #[arg(long)]
        version: String,
        /// Workspace packages whose binaries ship.
        #[arg(required = true)]
        roots: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            // Every failure here is input scripts/release gave it (a file, the metadata).
            ExitCode::from(driftless_exit::code::INVALID_INPUT)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sbom {
            metadata,
            name,
            version,
            roots,
        } => {
            let bytes = read_input(&metadata)?;
            let roots: Vec<&str> = roots.iter().map(String::as_str).collect();
            let components = driftless_release::linked_components(&bytes, &roots)?;
            let subject = Subject {
                kind: "application",
                name: &name,
                version: Some(&version),
                tool: "driftless scripts/release",
            };
            let doc = cyclonedx_json_for(&subject, &components);
            std::io::stdout()
                .write_all(&doc)
                .context("cannot write the SBOM to standard output")?;
            Ok(())
        }
    }
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read the cargo metadata from standard input")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
