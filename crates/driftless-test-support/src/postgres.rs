//! A real PostgreSQL on loopback for tests: a fresh, empty database per test.
//!
//! `scripts/test` (through `scripts/postgres start`) runs one private cluster for the
//! whole run and exports its admin URL as [`ADMIN_URL_ENV`]; each test then creates its
//! own database there. Without that variable a test starts a private cluster of its
//! own (slower, same result). A [`Cluster`] runs as the `postgres` user when the tests
//! run as root (PostgreSQL refuses to run as root), listens on 127.0.0.1 on a free port
//! with its socket in its own temp dir, and is stopped when dropped.
//!
//! Without the PostgreSQL binaries, under `CI=true` the test fails with a message
//! saying how to install them; elsewhere it prints a notice and skips.

use anyhow::{bail, Context};
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The admin URL of a running cluster tests may create databases in.
pub const ADMIN_URL_ENV: &str = "DRIFTLESS_TEST_POSTGRES_URL";
/// The directory holding `initdb`, `pg_ctl` and `createdb`, if not Debian's.
pub const BIN_DIR_ENV: &str = "DRIFTLESS_POSTGRES_BIN";
/// Where Debian's `postgresql` package installs each major version's binaries.
const DEBIAN_LIB_DIR: &str = "/usr/lib/postgresql";
/// How many free ports are tried when another process grabs the one picked.
const START_ATTEMPTS: usize = 3;
/// What to do when PostgreSQL is missing.
const INSTALL_HINT: &str = "install Debian's `postgresql` (scripts/prereqs does), or point \
     DRIFTLESS_POSTGRES_BIN at a directory with initdb and pg_ctl";

/// The directory with PostgreSQL's server binaries: [`BIN_DIR_ENV`], else the newest
/// version under Debian's layout, else the one `pg_ctl` on PATH lives in.
pub fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        return Some(PathBuf::from(dir));
    }
    let newest = fs::read_dir(DEBIAN_LIB_DIR).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let major: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").is_file().then_some((major, bin))
            })
            .max_by_key(|(major, _)| *major)
            .map(|(_, bin)| bin)
    });
    newest.or_else(|| {
        let out = Command::new("sh")
            .args(["-c", "command -v pg_ctl"])
            .output()
            .ok()?;
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        out.status
            .success()
            .then(|| path.parent().map(Path::to_path_buf))?
    })
}

/// Whether `CI=true`: a missing prerequisite then fails the test instead of skipping it.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The binaries, or `None` after printing why the test is skipped; panics under CI.
fn require_bin_dir() -> Option<PathBuf> {
    match bin_dir() {
        Some(dir) if dir.join("pg_ctl").is_file() => Some(dir),
        _ if in_ci() => {
            panic!("this test needs PostgreSQL and it is not installed; {INSTALL_HINT}")
        }
        _ => {
            eprintln!("notice: skipping, PostgreSQL is not installed; {INSTALL_HINT}");
            None
        }
    }
}

/// Whether this process runs as root, so the cluster must run as `postgres`.
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A private PostgreSQL cluster; stopped (immediately) and deleted when dropped.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// Initialises a cluster in a temp dir and starts it on a free loopback port,
    /// trusting loopback connections (the socket dir is private to it).
    pub fn start() -> anyhow::Result<Cluster> {
        let bin = bin_dir().context(INSTALL_HINT)?;
        let dir = tempfile::Builder::new()
            .prefix("driftless-postgres-")
            .tempdir()
            .context("cannot create a temp dir for PostgreSQL")?;
        let as_postgres = running_as_root();
        let mut cluster = Cluster {
            bin,
            dir,
            port: 0,
            as_postgres,
        };
        if as_postgres {
            let out = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(cluster.dir.path())
                .output()
                .context("cannot run chown")?;
            check(&out, "chown of the cluster's dir to postgres")?;
        }
        let data = cluster.data_dir();
        let out = cluster
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .arg("--no-instructions")
            .output()
            .context("cannot run initdb")?;
        check(&out, "initdb")?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            cluster.port = free_port()?;
            match cluster.start_again() {
                Ok(()) => return Ok(cluster),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("PostgreSQL did not start")))
    }

    /// Starts the (stopped) cluster again on the same port, waiting until it accepts
    /// connections.
    pub fn start_again(&self) -> anyhow::Result<()> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .command("pg_ctl")
            .arg("start")
            .arg("-w")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-o", &options])
            .output()
            .context("cannot run pg_ctl start")?;
        check(&out, "pg_ctl start").with_context(|| self.log_tail())
    }

    /// Stops the cluster (fast shutdown: open connections are cut), waiting until it is
    /// down; [`Cluster::start_again`] brings it back.
    pub fn stop(&self) -> anyhow::Result<()> {
        let out = self
            .command("pg_ctl")
            .arg("stop")
            .args(["-w", "-m", "fast", "-D"])
            .arg(self.data_dir())
            .output()
            .context("cannot run pg_ctl stop")?;
        check(&out, "pg_ctl stop")
    }

    /// The URL of the `postgres` database as the superuser.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The URL of database `name` in this cluster.
    pub fn url_of(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `program` from the binaries, as `postgres` when running as root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    /// The end of the server's log, for a failure message.
    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("server log:\n{tail}")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Immediate: the test is over, nothing needs to be flushed.
        let _ = self
            .command("pg_ctl")
            .arg("stop")
            .args(["-w", "-m", "immediate", "-D"])
            .arg(self.data_dir())
            .output();
    }
}

/// Fails with the command's output unless it succeeded.
fn check(out: &Output, what: &str) -> anyhow::Result<()> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A private cluster for a test that needs one of its own (e.g. to stop it under a
/// running store); `None` after a printed notice when PostgreSQL is not installed
/// outside CI. Panics under CI, or when the cluster does not start.
pub fn private_cluster() -> Option<Cluster> {
    require_bin_dir()?;
    match Cluster::start() {
        Ok(cluster) => Some(cluster),
        Err(e) => panic!("cannot start a private PostgreSQL cluster: {e:#}"),
    }
}

/// A fresh, empty database; dropped (connections cut) when this is dropped.
pub struct TestDatabase {
    url: String,
    name: String,
    admin_url: String,
    bin: PathBuf,
    // Declared last: dropped after the database.
    _cluster: Option<Cluster>,
}

impl TestDatabase {
    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self._cluster.is_some() {
            return; // the whole cluster goes
        }
        let _ = Command::new(self.bin.join("dropdb"))
            .arg(format!("--maintenance-db={}", self.admin_url))
            .args(["--force", "--if-exists"])
            .arg(&self.name)
            .output();
    }
}

/// A fresh, empty database for one test: in the cluster [`ADMIN_URL_ENV`] names, or
/// else in a private cluster started for it. `None` after a printed notice when
/// PostgreSQL is not installed outside CI; panics under CI or when it cannot be made.
pub fn fresh_database() -> Option<TestDatabase> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let bin = require_bin_dir()?;
    let (admin_url, cluster) = match std::env::var(ADMIN_URL_ENV) {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let cluster = Cluster::start()
                .unwrap_or_else(|e| panic!("cannot start a private PostgreSQL cluster: {e:#}"));
            (cluster.admin_url(), Some(cluster))
        }
    };
    let name = format!(
        "driftless_test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let out = Command::new(bin.join("createdb"))
        .arg(format!("--maintenance-db={admin_url}"))
        .arg(&name)
        .output()
        .unwrap_or_else(|e| panic!("cannot run createdb: {e}"));
    if let Err(e) = check(&out, "createdb") {
        panic!("cannot create a test database through {ADMIN_URL_ENV}={admin_url}: {e:#}");
    }
    let url = database_url(&admin_url, &name);
    Some(TestDatabase {
        url,
        name,
        admin_url,
        bin,
        _cluster: cluster,
    })
}

/// The admin URL with its database name replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority_end = base
        .find("://")
        .map(|at| at + 3)
        .and_then(|start| base[start..].find('/').map(|slash| start + slash))
        .unwrap_or(base.len());
    let mut url = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn database_url_replaces_only_the_database() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5/t1"
        );
        assert_eq!(
            database_url("postgres://u:p@h:5?sslmode=disable", "t1"),
            "postgres://u:p@h:5/t1?sslmode=disable"
        );
    }
}
