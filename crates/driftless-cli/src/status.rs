//! `driftless status`: what this host runs, what it was assigned, and why it differs.

use anyhow::Result;
use driftless_runtime::{ContainerRuntime, DockerRuntime};
use serde::Serialize;

use crate::state::StateDir;

/// The `--json` schema (stable: fields are only ever added).
#[derive(Serialize)]
pub struct StatusReport {
    /// Schema version of this report.
    pub schema: u32,
    /// This install's id.
    pub install_id: String,
    /// The app.
    pub app: String,
    /// The channel.
    pub channel: String,
    /// The control plane.
    pub server: String,
    /// The compose project.
    pub project: String,
    /// The version `current` points at.
    pub current_version: Option<String>,
    /// The newest verified assignment's version.
    pub assigned_version: Option<String>,
    /// `new`, `converged`, `applying`, `failed:<reason>`, `drifted:<what>`.
    pub status: String,
    /// Why the last sync failed.
    pub last_error: Option<String>,
    /// Why the host is not converged (or what was repaired), structured.
    pub reason: Option<driftless_wire::status::Reason>,
    /// The version the last sync tried, when it is not the one running.
    pub target_version: Option<String>,
    /// A release that failed here and is not retried until it changes.
    pub held_back: Option<String>,
    /// A note from the control plane (deprecated release, waiting for a wave).
    pub notice: Option<String>,
    /// What the last sync found drifted and repaired.
    pub last_repair: Option<String>,
    /// Unix seconds of the last sync.
    pub last_sync: Option<i64>,
    /// The W3C trace id of the last sync: its requests in the control plane's log.
    pub last_trace_id: Option<String>,
    /// Release notes of a pending release.
    pub pending_notes: Option<String>,
    /// The project's containers, when the engine answers.
    pub services: Vec<ServiceStatus>,
    /// The update policy, and the release that waits for it.
    pub policy: crate::policy::PolicyReport,
    /// The last run-once job of a release (migration) on this host.
    pub last_job: Option<crate::migrate::JobRecord>,
}

/// One container of the project.
#[derive(Serialize)]
pub struct ServiceStatus {
    /// Compose service.
    pub service: String,
    /// Container state.
    pub state: String,
    /// Health, where it has a check.
    pub health: Option<String>,
    /// The image it runs.
    pub image: String,
}

/// Arguments of `driftless status`.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// Print JSON (stable schema).
    #[arg(long)]
    json: bool,
    /// Also write a status receipt, signed by this host's key and chained to the
    /// previous one, to FILE: how an air-gapped host reports back to its vendor.
    #[arg(long, value_name = "FILE")]
    receipt: Option<std::path::PathBuf>,
}

/// Runs `driftless status`.
pub async fn run_command(dir: &StateDir, args: StatusArgs) -> Result<()> {
    if let Some(file) = &args.receipt {
        let sequence = crate::receipt::write(dir, file).await?;
        eprintln!("wrote status receipt {sequence} to {}", file.display());
    }
    status(dir, args.json).await
}

/// Prints the status.
pub async fn status(dir: &StateDir, json: bool) -> Result<()> {
    let report = report(dir).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(())
}

/// Gathers the report from the state directory and, when it answers, the engine.
pub(crate) async fn report(dir: &StateDir) -> Result<StatusReport> {
    let config = dir.load_config()?;
    let record = dir.load_sync();
    let current = dir.current_version();
    let pending_notes = pending_notes(dir, record.assigned_version.as_deref(), current.as_deref());
    let services = services(&config.project).await;
    let policy = crate::policy::report(&config.policy, &record);
    Ok(StatusReport {
        policy,
        schema: 1,
        install_id: config.install_id,
        app: config.app,
        channel: config.channel,
        server: config.server,
        project: config.project,
        current_version: current,
        assigned_version: record.assigned_version,
        status: record
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "new".into()),
        last_error: record.last_error,
        reason: record.reason,
        target_version: record.target_version,
        held_back: record.failed.map(|f| f.version),
        notice: record.notice,
        last_repair: record.last_repair,
        last_sync: record.last_sync,
        last_trace_id: record.last_trace_id,
        pending_notes,
        services,
        last_job: crate::migrate::last_job(dir),
    })
}

/// The notes of the assigned release, when it is not the one running.
fn pending_notes(dir: &StateDir, assigned: Option<&str>, current: Option<&str>) -> Option<String> {
    match assigned {
        Some(a) if current != Some(a) => dir.load_verified(a).ok().and_then(|(_, r, _)| r.notes),
        _ => None,
    }
}

/// The project's containers; none when the engine does not answer.
async fn services(project: &str) -> Vec<ServiceStatus> {
    let containers = match DockerRuntime::connect().await {
        Ok(rt) => rt.project_containers(project).await.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    containers
        .into_iter()
        .map(|c| ServiceStatus {
            service: c.service,
            state: c.state,
            health: c.health,
            image: c.image,
        })
        .collect()
}

/// Prints the report for a person.
fn print_text(report: &StatusReport) {
    println!("install   {}", report.install_id);
    println!(
        "app       {} ({} channel) from {}",
        report.app, report.channel, report.server
    );
    println!(
        "running   {}",
        report.current_version.as_deref().unwrap_or("nothing yet")
    );
    println!(
        "assigned  {}",
        report.assigned_version.as_deref().unwrap_or("nothing yet")
    );
    println!("status    {}", report.status);
    if let Some(r) = &report.reason {
        println!("reason    {}: {}", r.label(), r.detail);
    } else if let Some(e) = &report.last_error {
        println!("why       {e}");
    }
    if let Some(n) = &report.notice {
        println!("notice    {n}");
    }
    crate::policy::print_text(&report.policy);
    let rolled_back = report
        .reason
        .as_ref()
        .is_some_and(|r| r.code == driftless_wire::status::ReasonCode::RolledBackByCustomer);
    if let Some(v) = &report.held_back {
        if rolled_back {
            println!("held back {v} (`driftless rollback`; applied again only when the vendor assigns another release)");
        } else {
            println!("held back {v} (failed its health check here; not retried until it changes)");
        }
    }
    for s in &report.services {
        println!(
            "service   {:<12} {:<10} {}",
            s.service,
            s.health.as_deref().unwrap_or(&s.state),
            s.image
        );
    }
    if let Some(j) = &report.last_job {
        let ended = match (j.timed_out, j.exit_code) {
            (false, Some(code)) => format!("exited with code {code}"),
            _ => "ran past its timeout and was stopped".to_string(),
        };
        println!(
            "last job  {} ({} of {}) {ended}",
            j.service, j.phase, j.release
        );
        for line in j.log_tail.lines() {
            println!("          | {line}");
        }
    }
    if let Some(n) = &report.pending_notes {
        println!("\nnotes of the pending release:\n{n}");
    }
}
