//! Finding and running the compose tool (`docker compose` v2 or `docker-compose` v1).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::RuntimeError;

/// The only environment variables the compose tool sees.
///
/// Everything else is cleared, so a variable set on the host (or a stray
/// `COMPOSE_PROJECT_NAME`) cannot override the values in the release's env file.
pub const COMPOSE_PASSTHROUGH_ENV: &[&str] = &["PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG"];

/// How many trailing stderr lines a compose failure keeps.
const STDERR_TAIL_LINES: usize = 20;

/// How long one compose command may run by default. The agent pulls a release's
/// images itself before `up`, so `up`, `down` and `run` take seconds to minutes; one
/// still running after this is stuck (an engine that stopped answering, a dependency
/// that never turns healthy), and the sync fails naming it, with the tool stopped,
/// instead of holding the host's state lock forever.
pub const DEFAULT_COMPOSE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How long `docker compose version` may take when the tool is looked for.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

/// The compose tool found on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeTool {
    /// The v2 CLI plugin, run as `docker compose`.
    Plugin,
    /// The v1 standalone binary, run as `docker-compose`.
    Standalone,
}

impl ComposeTool {
    /// Picks `docker compose` when it answers `version`, else `docker-compose` when it
    /// is on `PATH`. The standalone tool is not asked for its version: that is a Python
    /// start-up (a second on a busy host) before the command that needs it; a broken
    /// one fails that command instead, with its own complaint.
    pub async fn detect() -> Result<Self, RuntimeError> {
        if ComposeTool::Plugin.answers_version().await {
            return Ok(ComposeTool::Plugin);
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        if executable_on(&path, "docker-compose") {
            return Ok(ComposeTool::Standalone);
        }
        Err(RuntimeError::NoCompose)
    }

    /// The command as a person would type it.
    pub fn command(&self) -> &'static str {
        match self {
            ComposeTool::Plugin => "docker compose",
            ComposeTool::Standalone => "docker-compose",
        }
    }

    /// Program and leading arguments, with the cleared environment applied.
    fn base_command(&self) -> Command {
        let mut cmd = match self {
            ComposeTool::Plugin => {
                let mut cmd = Command::new("docker");
                cmd.arg("compose");
                cmd
            }
            ComposeTool::Standalone => Command::new("docker-compose"),
        };
        cmd.env_clear();
        for name in COMPOSE_PASSTHROUGH_ENV {
            if let Some(value) = std::env::var_os(name) {
                cmd.env(name, value);
            }
        }
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }

    async fn answers_version(&self) -> bool {
        let mut cmd = self.base_command();
        cmd.arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // A version that does not come is no answer (the child is killed on drop).
        matches!(
            tokio::time::timeout(VERSION_TIMEOUT, cmd.status()).await,
            Ok(Ok(status)) if status.success()
        )
    }

    /// Runs `<tool> -p <project> -f <file> --env-file <env> <args…>` in the compose
    /// file's directory and turns a failure into [`RuntimeError::Compose`], as it does
    /// a run not ended within `limit` (the tool is then killed).
    pub(crate) async fn run(
        &self,
        project: &str,
        compose_file: &Path,
        env_file: &Path,
        args: &[&str],
        limit: Duration,
    ) -> Result<(), RuntimeError> {
        let action = format!(
            "`{} {}` for project {project}",
            self.command(),
            args.join(" ")
        );
        // Absolute paths, because the tool runs in the compose file's directory (so
        // relative paths inside the file resolve as the release intends).
        let absolute = |path: &Path| {
            std::path::absolute(path).map_err(|err| RuntimeError::Compose {
                action: action.clone(),
                stderr_tail: format!("cannot resolve {}: {err}", path.display()),
            })
        };
        let (compose_file, env_file) = (absolute(compose_file)?, absolute(env_file)?);
        let mut cmd = self.base_command();
        if let Some(dir) = compose_file.parent() {
            cmd.current_dir(dir);
        }
        cmd.arg("-p")
            .arg(project)
            .arg("-f")
            .arg(&compose_file)
            .arg("--env-file")
            .arg(&env_file)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // Dropping the unfinished run at its limit kills the tool (`kill_on_drop`).
        let Ok(output) = tokio::time::timeout(limit, cmd.output()).await else {
            return Err(RuntimeError::Compose {
                action,
                stderr_tail: format!(
                    "it had not finished after {} s and was stopped (is the Docker Engine answering? `docker info` tells)",
                    limit.as_secs()
                ),
            });
        };
        let output = output.map_err(|err| RuntimeError::Compose {
            action: action.clone(),
            stderr_tail: format!("could not start {}: {err}", self.command()),
        })?;
        if output.status.success() {
            return Ok(());
        }
        Err(RuntimeError::Compose {
            action,
            stderr_tail: tail_lines(&String::from_utf8_lossy(&output.stderr), STDERR_TAIL_LINES),
        })
    }
}

/// Whether a directory of `path` (a `PATH` value) holds an executable file `program`.
fn executable_on(path: &std::ffi::OsStr, program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::split_paths(path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The last `n` non-empty lines of `text`, newline-separated.
pub(crate) fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_on_path_only_as_an_executable_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let (plain, exec) = (tmp.path().join("plain"), tmp.path().join("exec"));
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::create_dir_all(exec.join("docker-compose")).unwrap();
        std::fs::write(plain.join("docker-compose"), "#!/bin/sh\n").unwrap();
        let path = std::env::join_paths([&plain, &exec]).unwrap();
        // A file that is not executable, and a directory, do not count.
        assert!(!executable_on(&path, "docker-compose"));
        let file = plain.join("docker-compose");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(executable_on(&path, "docker-compose"));
        assert!(!executable_on(&path, "docker-compose-v9"));
    }

    #[test]
    fn tail_keeps_only_the_last_lines() {
        let text = (1..=30).map(|i| format!("line {i}\n")).collect::<String>();
        let tail = tail_lines(&text, 20);
        assert_eq!(tail.lines().count(), 20);
        assert!(tail.starts_with("line 11"));
        assert!(tail.ends_with("line 30"));
    }
}
