//! Preflight checks: what a release declares it needs of a host (`x-driftless.preflight`:
//! cores, memory, free disk where the engine keeps images and volumes, engine API and
//! compose versions, the host ports its services publish, endpoints from config values),
//! checked against this host. `driftless preflight` prints them; `sync` runs them on a
//! new release before anything is pulled and refuses on a failure.

use anyhow::Result;
use bollard::container::ListContainersOptions;
use driftless_exit::{code, Coded, HintExt as _};
use driftless_runtime::{ContainerRuntime as _, DockerRuntime, PROJECT_LABEL};
use driftless_wire::preflight::{Endpoint, Preflight, PublishedPort};
use driftless_wire::release::{ConfigVar, ReleaseDocument};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::state::StateDir;

/// How long one endpoint check may take.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most ports of one published range that are checked.
const MAX_RANGE_PORTS: u16 = 256;

/// Arguments of `driftless preflight`.
#[derive(clap::Args)]
pub struct PreflightArgs {
    /// Print the checks as JSON: `{"release", "passed", "checks": [{check, expected, found, result}]}`.
    #[arg(long)]
    json: bool,
}

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The host meets it.
    Pass,
    /// The host does not, but the release only warns about it (or it could not be told).
    Warn,
    /// The host does not meet it: the release is not pulled.
    Fail,
}

/// One check's row.
#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    /// The check's name (`memory_mb`, `ports`, an endpoint's name).
    pub check: String,
    /// What the release needs.
    pub expected: String,
    /// What this host has.
    pub found: String,
    /// Pass, warn or fail.
    pub result: Verdict,
}

/// A preflight check failed: the release was not pulled.
#[derive(Debug)]
pub struct PreflightFailed {
    /// The check's name.
    pub check: String,
    /// Expected and found, for a person.
    pub detail: String,
}

impl std::fmt::Display for PreflightFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "preflight check `{}` failed: {}",
            self.check, self.detail
        )
    }
}

impl std::error::Error for PreflightFailed {}

/// What the checks read from the host and the install.
pub struct Host<'a> {
    /// The container engine.
    pub runtime: &'a DockerRuntime,
    /// This install's compose project (its own containers may hold its ports).
    pub project: &'a str,
    /// The release's config schema (for defaults).
    pub schema: &'a [ConfigVar],
    /// The customer's values.
    pub values: &'a BTreeMap<String, String>,
}

impl Host<'_> {
    fn value(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned().or_else(|| {
            self.schema
                .iter()
                .find(|v| v.name == name)
                .and_then(|v| v.default.clone())
        })
    }

    fn resolve(&self, text: &str) -> Result<String, String> {
        driftless_descriptor::interpolate(text, &|n| self.value(n))
            .map_err(|e| format!("config value `{e}` is not set"))
    }
}

/// Runs `driftless preflight` on the assigned release; exits 16 when a check fails.
pub async fn run_command(dir: &StateDir, args: PreflightArgs) -> Result<()> {
    let config = dir.load_config()?;
    let version = crate::config_cmd::release_version(dir)?;
    let (_, release, _) = dir.load_verified(&version)?;
    let runtime = DockerRuntime::connect().await?;
    let host = Host {
        runtime: &runtime,
        project: &config.project,
        schema: &release.config_schema,
        values: &config.values,
    };
    let results = run_checks(&host, &release.preflight).await;
    let passed = !results.iter().any(|r| r.result == Verdict::Fail);
    if args.json {
        let out = serde_json::json!({"release": version, "passed": passed, "checks": results});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if results.is_empty() {
        eprintln!("release {version} declares no preflight checks");
    } else {
        print!("{}", table(&results));
    }
    match results.iter().find(|r| r.result == Verdict::Fail) {
        Some(failed) => Err(Coded(
            code::PREFLIGHT_FAILED,
            format!("release {version} fails preflight check `{}`", failed.check),
        ))
        .hint("fix what the FOUND column shows (or change the value with `driftless config set`), then run `driftless preflight` again"),
        None => Ok(()),
    }
}

/// Sync's hook before a new release is pulled: runs its checks, prints the warnings, and
/// refuses on the first failure (exit 16, reason `preflight_failed:<check>`). The release
/// the host runs already is not checked again.
pub async fn before_pull(
    ctx: &crate::sync::Ctx<'_>,
    release: &ReleaseDocument,
    version: &str,
) -> Result<()> {
    if release.preflight.is_empty() || ctx.dir.current_version().as_deref() == Some(version) {
        return Ok(());
    }
    let host = Host {
        runtime: &ctx.runtime,
        project: &ctx.config.project,
        schema: &release.config_schema,
        values: &ctx.config.values,
    };
    let results = run_checks(&host, &release.preflight).await;
    for w in results.iter().filter(|r| r.result == Verdict::Warn) {
        eprintln!(
            "warning: preflight check `{}`: expected {}, found {}",
            w.check, w.expected, w.found
        );
    }
    let Some(failed) = results.into_iter().find(|r| r.result == Verdict::Fail) else {
        return Ok(());
    };
    let detail = format!("expected {}, found {}", failed.expected, failed.found);
    Err(anyhow::Error::new(PreflightFailed {
        check: failed.check,
        detail,
    })
    .context(Coded(
        code::PREFLIGHT_FAILED,
        format!("release {version} was not pulled (the running app was not touched)"),
    )))
    .hint("run `driftless preflight` to see every check; fix the host or the value, then `driftless sync` again")
}

/// Every declared check against this host, in a stable order.
pub async fn run_checks(host: &Host<'_>, p: &Preflight) -> Vec<CheckResult> {
    let mut out = engine_checks(host, p).await;
    for port in &p.ports {
        out.extend(port_checks(host, port).await);
    }
    for e in &p.endpoints {
        out.push(endpoint_check(host, e).await);
    }
    for r in &mut out {
        if r.result == Verdict::Fail && p.warn_only.contains(&r.check) {
            r.result = Verdict::Warn;
        }
    }
    out
}

fn row(check: &str, expected: String, found: String, pass: bool) -> CheckResult {
    CheckResult {
        check: check.to_string(),
        expected,
        found,
        result: if pass { Verdict::Pass } else { Verdict::Fail },
    }
}

fn unknown(check: &str, expected: String, why: String) -> CheckResult {
    CheckResult {
        check: check.to_string(),
        expected,
        found: format!("cannot tell: {why}"),
        result: Verdict::Warn,
    }
}

const MIB: u64 = 1024 * 1024;

/// Cores, memory, disk, engine API and compose versions.
async fn engine_checks(host: &Host<'_>, p: &Preflight) -> Vec<CheckResult> {
    let mut out = Vec::new();
    if p.cpu_cores.is_some() || p.memory_mb.is_some() {
        let info = host
            .runtime
            .engine()
            .info()
            .await
            .map_err(|e| e.to_string());
        if let Some(want) = p.cpu_cores {
            let expected = format!("at least {want} CPU cores");
            out.push(match info.as_ref().map(|i| i.ncpu) {
                Ok(Some(n)) => row(
                    "cpu_cores",
                    expected,
                    format!("{n}"),
                    u64::try_from(n).unwrap_or(0) >= want,
                ),
                Ok(None) => unknown("cpu_cores", expected, "the engine does not say".into()),
                Err(e) => unknown("cpu_cores", expected, e.clone()),
            });
        }
        if let Some(want) = p.memory_mb {
            let expected = format!("at least {want} MiB of memory");
            out.push(match info.as_ref().map(|i| i.mem_total) {
                Ok(Some(n)) => {
                    let mb = u64::try_from(n).unwrap_or(0) / MIB;
                    row("memory_mb", expected, format!("{mb} MiB"), mb >= want)
                }
                Ok(None) => unknown("memory_mb", expected, "the engine does not say".into()),
                Err(e) => unknown("memory_mb", expected, e.clone()),
            });
        }
    }
    if let Some(want) = p.disk_free_mb {
        let expected =
            format!("at least {want} MiB free where the engine keeps images and volumes");
        out.push(match host.runtime.free_disk_bytes().await {
            Ok(Some(free)) => row(
                "disk_free_mb",
                expected,
                format!("{} MiB free", free / MIB),
                free / MIB >= want,
            ),
            Ok(None) => unknown(
                "disk_free_mb",
                expected,
                "the engine does not name its data root".into(),
            ),
            Err(e) => unknown("disk_free_mb", expected, e.to_string()),
        });
    }
    if let Some(want) = &p.docker_api {
        let expected = format!("Docker Engine API {want} or newer");
        out.push(match host.runtime.engine().version().await {
            Ok(v) => match v.api_version {
                Some(found) => {
                    let pass = at_least(&found, want);
                    row("docker_api", expected, found, pass)
                }
                None => unknown("docker_api", expected, "the engine does not say".into()),
            },
            Err(e) => unknown("docker_api", expected, e.to_string()),
        });
    }
    if let Some(want) = &p.compose {
        let expected = format!("compose {want} or newer");
        out.push(match compose_version(host.runtime).await {
            Ok(found) => {
                let pass = at_least(&found, want);
                row("compose", expected, found, pass)
            }
            Err(e) => row("compose", expected, e, false),
        });
    }
    out
}

/// Whether dotted version `found` is at least `want` (`v2.20.1` reads as `2.20.1`).
fn at_least(found: &str, want: &str) -> bool {
    let numbers = |s: &str| -> Vec<u64> {
        s.trim()
            .trim_start_matches('v')
            .split(['.', '-', '+'])
            .map_while(|n| n.parse().ok())
            .collect()
    };
    let (mut f, mut w) = (numbers(found), numbers(want));
    let len = f.len().max(w.len());
    f.resize(len, 0);
    w.resize(len, 0);
    f >= w
}

/// The compose tool's version (`<tool> version --short`).
async fn compose_version(runtime: &DockerRuntime) -> Result<String, String> {
    let tool = runtime.compose_tool().await.map_err(|e| e.to_string())?;
    let mut words = tool.command().split(' ');
    let program = words.next().unwrap_or("docker-compose");
    let out = tokio::process::Command::new(program)
        .args(words)
        .args(["version", "--short"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", tool.command()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().next().map(str::trim) {
        Some(v) if out.status.success() && !v.is_empty() => Ok(v.to_string()),
        _ => Err(format!(
            "`{} version --short` did not answer",
            tool.command()
        )),
    }
}

/// One row per host port `port` publishes once its values are filled in.
async fn port_checks(host: &Host<'_>, port: &PublishedPort) -> Vec<CheckResult> {
    let ip = match port
        .host_ip
        .as_deref()
        .map(|ip| host.resolve(ip))
        .transpose()
    {
        Ok(ip) => ip.unwrap_or_else(|| "0.0.0.0".into()),
        Err(e) => {
            return vec![row(
                "ports",
                format!("{} of {} free", port.host_port, port.service),
                e,
                false,
            )]
        }
    };
    let numbers = match host.resolve(&port.host_port).map(|p| port_numbers(&p)) {
        Ok(Some(n)) => n,
        Ok(None) | Err(_) => {
            let found = host.resolve(&port.host_port).unwrap_or_else(|e| e);
            return vec![row(
                "ports",
                format!("{} of {} free", port.host_port, port.service),
                format!("not a port: {found}"),
                false,
            )];
        }
    };
    let holders = published_by_containers(host.runtime).await;
    let mut out = Vec::new();
    for n in numbers {
        let expected = format!("{ip}:{n}/{} free for {}", port.protocol, port.service);
        let holder = holders.as_ref().ok().and_then(|h| {
            h.iter()
                .find(|c| c.port == n && c.protocol == port.protocol && same_address(&c.ip, &ip))
        });
        out.push(match holder {
            Some(c) if c.project.as_deref() == Some(host.project) => row(
                "ports",
                expected,
                format!("held by this app ({})", c.name),
                true,
            ),
            Some(c) => row(
                "ports",
                expected,
                format!("held by container {}", c.name),
                false,
            ),
            None => bind_check(expected, &ip, n, &port.protocol),
        });
    }
    out
}

/// `8080` → [8080]; `8000-8003` → [8000, …, 8003] (at most [`MAX_RANGE_PORTS`]).
fn port_numbers(text: &str) -> Option<Vec<u16>> {
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a > 0 && a <= b && b - a < MAX_RANGE_PORTS).then(|| (a..=b).collect())
}

fn same_address(a: &str, b: &str) -> bool {
    let any = |x: &str| matches!(x, "" | "0.0.0.0" | "::");
    a == b || any(a) || any(b)
}

/// Whether this host lets a program bind the port (the engine is not the only user).
fn bind_check(expected: String, ip: &str, port: u16, protocol: &str) -> CheckResult {
    let addr = format!("{ip}:{port}");
    let bound = if protocol == "udp" {
        std::net::UdpSocket::bind(&addr).map(drop)
    } else {
        std::net::TcpListener::bind(&addr).map(drop)
    };
    match bound {
        Ok(()) => row("ports", expected, "free".into(), true),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            row("ports", expected, "in use by another program".into(), false)
        }
        Err(e) => unknown("ports", expected, format!("cannot bind {addr}: {e}")),
    }
}

/// One host port a running container publishes.
struct Holder {
    name: String,
    project: Option<String>,
    ip: String,
    port: u16,
    protocol: String,
}

async fn published_by_containers(runtime: &DockerRuntime) -> Result<Vec<Holder>, String> {
    let containers = runtime
        .engine()
        .list_containers(None::<ListContainersOptions<String>>)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for c in containers {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        let project = c
            .labels
            .as_ref()
            .and_then(|l| l.get(PROJECT_LABEL))
            .cloned();
        for p in c.ports.unwrap_or_default() {
            let Some(port) = p.public_port else { continue };
            out.push(Holder {
                name: name.clone(),
                project: project.clone(),
                ip: p.ip.unwrap_or_default(),
                port,
                protocol: p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into()),
            });
        }
    }
    Ok(out)
}

/// Connects to a TCP endpoint or GETs an HTTP one, with its values filled in.
async fn endpoint_check(host: &Host<'_>, e: &Endpoint) -> CheckResult {
    let (target, is_http) = match (&e.tcp, &e.http) {
        (Some(t), _) => (t, false),
        (None, Some(u)) => (u, true),
        (None, None) => {
            return row(
                &e.name,
                "an endpoint".into(),
                "nothing to check".into(),
                false,
            )
        }
    };
    let resolved = match host.resolve(target) {
        Ok(r) => r,
        Err(why) => return row(&e.name, format!("{target} reachable"), why, false),
    };
    if !is_http {
        let expected = format!("TCP {resolved} reachable");
        let found =
            tokio::time::timeout(ENDPOINT_TIMEOUT, tokio::net::TcpStream::connect(&resolved)).await;
        return match found {
            Ok(Ok(_)) => row(&e.name, expected, "connected".into(), true),
            Ok(Err(err)) => row(&e.name, expected, format!("cannot connect: {err}"), false),
            Err(_) => row(
                &e.name,
                expected,
                format!("no answer within {}s", ENDPOINT_TIMEOUT.as_secs()),
                false,
            ),
        };
    }
    let expected = match e.status {
        Some(s) => format!("GET {resolved} answers {s}"),
        None => format!("GET {resolved} answers below 400"),
    };
    let client = reqwest::Client::builder().timeout(ENDPOINT_TIMEOUT).build();
    let answer = match client {
        Ok(c) => c.get(&resolved).send().await,
        Err(err) => return unknown(&e.name, expected, err.to_string()),
    };
    match answer {
        Ok(r) => {
            let got = r.status().as_u16();
            let pass = e.status.map_or(got < 400, |s| s == got);
            row(&e.name, expected, format!("HTTP {got}"), pass)
        }
        Err(err) if err.is_connect() => row(&e.name, expected, "connection refused".into(), false),
        Err(err) if err.is_timeout() => row(
            &e.name,
            expected,
            format!("no answer within {}s", ENDPOINT_TIMEOUT.as_secs()),
            false,
        ),
        Err(err) => row(&e.name, expected, err.to_string(), false),
    }
}

/// The checks as an aligned table: CHECK, EXPECTED, FOUND, RESULT.
fn table(results: &[CheckResult]) -> String {
    let header = ["CHECK", "EXPECTED", "FOUND", "RESULT"];
    let rows: Vec<[String; 4]> = results
        .iter()
        .map(|r| {
            let verdict = match r.result {
                Verdict::Pass => "pass",
                Verdict::Warn => "warn",
                Verdict::Fail => "fail",
            };
            [
                r.check.clone(),
                r.expected.clone(),
                r.found.clone(),
                verdict.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let lines = std::iter::once(header.map(String::from)).chain(rows);
    for cells in lines {
        let mut line = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_number() {
        assert!(at_least("1.43", "1.41"));
        assert!(!at_least("1.40", "1.41"));
        assert!(at_least("1.29.2", "1.29"));
        assert!(at_least("v2.20.1", "1.29.0"));
        assert!(!at_least("1.25.0", "1.29.0"));
    }

    #[test]
    fn port_ranges_are_bounded() {
        assert_eq!(port_numbers("8080"), Some(vec![8080]));
        assert_eq!(port_numbers("8000-8002"), Some(vec![8000, 8001, 8002]));
        assert_eq!(port_numbers("0"), None);
        assert_eq!(port_numbers("1-60000"), None);
        assert_eq!(port_numbers("web"), None);
    }

    #[test]
    fn the_table_aligns_its_columns() {
        let t = table(&[row(
            "memory_mb",
            "at least 9 MiB".into(),
            "4 MiB".into(),
            false,
        )]);
        assert_eq!(
            t,
            "CHECK      EXPECTED        FOUND  RESULT\nmemory_mb  at least 9 MiB  4 MiB  fail\n"
        );
    }
}
