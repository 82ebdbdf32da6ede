//! `driftless uninstall`: tell the control plane (a signed request, accepted once; the
//! install is then revoked and listed as uninstalled), stop and remove the app's
//! containers and networks, its volumes unless `--keep-data`, and the state directory.
//!
//! It asks for confirmation on a terminal and refuses without `--yes` otherwise. The
//! control plane is told first: when it cannot be, nothing is removed unless `--force`,
//! which removes the app anyway and says the vendor was not told. A second run after a
//! partial failure finishes the job (the control plane answers that it already knows).

use anyhow::{Context as _, Result};
use driftless_client::ClientError;
use driftless_exit::{refuse, HintExt as _};
use driftless_runtime::{ContainerRuntime, DockerRuntime};
use driftless_wire::checkin::UninstallRequest;
use std::fs;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;

use crate::request_clock::next_request_ms;
use crate::state::{Config, StateDir};

/// The entries `driftless install` and `sync` create in the state directory; only these
/// are removed, so a directory that held other files keeps them.
const OWNED_ENTRIES: &[&str] = &[
    "config.toml",
    ".config.toml.managed",
    "keys",
    "trust",
    "releases",
    "current",
    "sync.json",
    "session.json",
    "journal.json",
    ".lock",
    // The update policy's approval, the migrations' snapshots and last job.
    "approval.json",
    "snapshots",
    "last-job.json",
];

/// Arguments of `driftless uninstall`.
#[derive(clap::Args)]
pub struct UninstallArgs {
    /// Keep the app's volumes (its data); containers, networks and the state directory
    /// still go.
    #[arg(long)]
    keep_data: bool,
    /// Do not ask for confirmation (needed when standard input is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Remove the app even if the control plane cannot be told; the vendor's fleet then
    /// keeps listing this install as in use.
    #[arg(long)]
    force: bool,
}

/// Whether the control plane knows the install is uninstalled.
enum Told {
    /// It accepted the request now.
    Now,
    /// It already knew (an earlier uninstall got that far).
    Already,
    /// It could not be told (`--force`).
    Not,
}

/// Runs `driftless uninstall`.
pub async fn run_command(dir: &StateDir, args: UninstallArgs) -> Result<()> {
    let config = dir.load_config()?;
    let _lock = dir.lock()?;
    confirm(dir, &config, &args)?;
    let runtime = DockerRuntime::connect().await?;
    let told = tell_control_plane(dir, &config, &args).await?;
    remove_app(&runtime, dir, &config, args.keep_data).await?;
    let left = remove_state_dir(dir)?;
    let data = if args.keep_data {
        format!(
            "volumes kept (docker volume ls --filter label=com.docker.compose.project={})",
            config.project
        )
    } else {
        "volumes removed".to_string()
    };
    eprintln!(
        "uninstalled {} (compose project {}): containers and networks removed, {data}",
        config.app, config.project
    );
    if left.is_empty() {
        eprintln!("removed {}", dir.root().display());
    } else {
        eprintln!(
            "removed what driftless owns in {}; kept what it did not create: {}",
            dir.root().display(),
            left.join(", ")
        );
    }
    match told {
        Told::Now | Told::Already => eprintln!(
            "the vendor's control plane lists install {} as uninstalled",
            config.install_id
        ),
        Told::Not => eprintln!(
            "warning: the vendor was not told; its fleet still lists install {} as in use",
            config.install_id
        ),
    }
    eprintln!(
        "images stay in the engine's cache (`docker image prune -a` removes unused ones); stop the agent's service if one runs"
    );
    Ok(())
}

/// Asks on a terminal; without one, only `--yes` goes ahead.
fn confirm(dir: &StateDir, config: &Config, args: &UninstallArgs) -> Result<()> {
    if args.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        refuse!(
            hint = "pass --yes to uninstall without being asked (--keep-data keeps the app's volumes)";
            "driftless uninstall needs confirmation and standard input is not a terminal; nothing was changed"
        );
    }
    let data = if args.keep_data {
        "keeping its volumes"
    } else {
        "AND DELETE ITS VOLUMES (its data)"
    };
    eprint!(
        "Uninstall {} (compose project {}) {data}, and remove {}? [y/N] ",
        config.app,
        config.project,
        dir.root().display()
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        refuse!("uninstall cancelled; nothing was changed");
    }
    Ok(())
}

/// Tells the control plane; without `--force`, a failure stops the uninstall here.
async fn tell_control_plane(dir: &StateDir, config: &Config, args: &UninstallArgs) -> Result<Told> {
    let key = dir.load_key()?;
    let client = crate::run_trace::client(&config.server)?;
    let req = UninstallRequest {
        keep_data: args.keep_data,
        version: dir.current_version(),
    };
    let signed_at_ms = next_request_ms(dir)?;
    let err = match client
        .uninstall(&config.install_id, &key, &req, signed_at_ms)
        .await
    {
        Ok(()) => return Ok(Told::Now),
        Err(e) if e.code() == Some("install_uninstalled") => return Ok(Told::Already),
        Err(e) => e,
    };
    if args.force {
        eprintln!(
            "warning: cannot tell the control plane that this install is uninstalled ({err}); removing the app anyway (--force)"
        );
        return Ok(Told::Not);
    }
    let hint = match err {
        ClientError::Unreachable { .. } => "try again when the control plane is reachable",
        _ => "ask your vendor why",
    };
    Err(anyhow::Error::new(err)
        .context("cannot tell the control plane that this install is uninstalled; nothing was removed"))
    .hint(format!(
        "{hint}, or pass --force to remove the app anyway (the vendor's fleet then keeps listing this install)"
    ))
}

/// `compose down` with the newest rendered compose file (volumes too, unless
/// `keep_data`), then any container of the project that is left.
async fn remove_app(
    runtime: &DockerRuntime,
    dir: &StateDir,
    config: &Config,
    keep_data: bool,
) -> Result<()> {
    let project = &config.project;
    if let Some(release_dir) = rendered_release(dir) {
        let compose = release_dir.join("compose.yaml");
        let env = release_dir.join("app.env");
        if keep_data {
            runtime.compose_down(project, &compose, &env).await?;
        } else {
            runtime
                .compose_down_removing_volumes(project, &compose, &env)
                .await?;
        }
    }
    for container in runtime.project_containers(project).await? {
        runtime.remove_container(&container.id).await?;
    }
    Ok(())
}

/// The directory of the release whose compose file was rendered last: `current`'s, else
/// the stored release with the highest counter that has one.
fn rendered_release(dir: &StateDir) -> Option<PathBuf> {
    let rendered = |v: &str| {
        let d = dir.release_dir(v);
        (d.join("compose.yaml").exists() && d.join("app.env").exists()).then_some(d)
    };
    if let Some(d) = dir.current_version().as_deref().and_then(rendered) {
        return Some(d);
    }
    dir.stored_versions()
        .into_iter()
        .filter_map(|v| {
            let counter = dir.load_verified(&v).ok()?.1.release_counter;
            rendered(&v).map(|d| (counter, d))
        })
        .max_by_key(|(counter, _)| *counter)
        .map(|(_, d)| d)
}

/// Removes what driftless owns in the state directory, then the directory if that
/// left it empty; returns the names it kept.
fn remove_state_dir(dir: &StateDir) -> Result<Vec<String>> {
    let root = dir.root();
    for entry in fs::read_dir(root).with_context(|| format!("cannot read {}", root.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_owned(&name) {
            continue;
        }
        let path = entry.path();
        let removed = if entry.file_type()?.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.with_context(|| format!("cannot remove {}", path.display()))?;
    }
    let mut left: Vec<String> = fs::read_dir(root)
        .with_context(|| format!("cannot read {}", root.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    if left.is_empty() {
        fs::remove_dir(root).with_context(|| format!("cannot remove {}", root.display()))?;
    }
    Ok(left)
}

/// Whether the CLI created `name` in the state directory: a fixed entry, a hand edit
/// it kept aside, or a temporary file of an interrupted write.
fn is_owned(name: &str) -> bool {
    OWNED_ENTRIES.contains(&name)
        || name.starts_with("config.toml.edited-")
        || (name.starts_with('.') && name.contains(".tmp."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_cli_creates_counts_as_owned() {
        for name in [
            "config.toml",
            "keys",
            "current",
            "config.toml.edited-1700000000",
            ".sync.json.tmp.42",
            ".current.tmp.42",
        ] {
            assert!(is_owned(name), "{name}");
        }
        for name in ["notes.txt", "backup", ".bashrc", "config.toml.bak"] {
            assert!(!is_owned(name), "{name}");
        }
    }

    #[test]
    fn the_state_dir_goes_but_a_file_the_cli_did_not_create_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("state");
        let dir = StateDir::new(&root);
        dir.create().unwrap();
        fs::write(root.join("config.toml"), "x").unwrap();
        fs::write(root.join("notes.txt"), "mine").unwrap();
        let left = remove_state_dir(&dir).unwrap();
        assert_eq!(left, ["notes.txt"]);
        assert!(!root.join("keys").exists() && !root.join("config.toml").exists());
        fs::remove_file(root.join("notes.txt")).unwrap();
        assert!(remove_state_dir(&dir).unwrap().is_empty());
        assert!(!root.exists());
    }
}
