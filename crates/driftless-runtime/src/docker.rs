//! [`DockerRuntime`]: the [`ContainerRuntime`] on a Docker Engine and its compose tool.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::container::{InspectContainerOptions, ListContainersOptions, LogsOptions};
use bollard::models::ContainerInspectResponse;
use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::OnceCell;

use crate::compose::{tail_lines, ComposeTool, DEFAULT_COMPOSE_TIMEOUT};
use crate::health::{service_status, ServiceStatus, Settle};
use crate::{
    disk, pull, ContainerRuntime, ContainerState, HealthGate, JobOutcome, PullProgress,
    RuntimeError, PROJECT_LABEL, SERVICE_LABEL,
};

/// How often [`ContainerRuntime::wait_healthy`] looks at the containers again.
const HEALTH_POLL: Duration = Duration::from_millis(500);
/// How many log lines an [`RuntimeError::Unhealthy`] carries.
const LOG_TAIL_LINES: usize = 20;

/// The host's Docker Engine (API version negotiated) and its compose tool.
///
/// The compose tool is found on first use, not at connect: finding it starts
/// `docker compose version` and perhaps `docker-compose version` (a Python start-up),
/// and a sync that finds the host converged, or `status`, needs no compose tool at all.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    docker: Docker,
    compose: Arc<OnceCell<ComposeTool>>,
    /// How long one compose command may run ([`DEFAULT_COMPOSE_TIMEOUT`]).
    compose_timeout: Duration,
}

impl DockerRuntime {
    /// Connects to the local engine (`DOCKER_HOST` when it is a `unix://` socket) and
    /// negotiates the API version. Starts no process.
    pub async fn connect() -> Result<Self, RuntimeError> {
        let unreachable = |err: bollard::errors::Error| RuntimeError::EngineUnreachable {
            reason: err.to_string(),
        };
        let docker = Docker::connect_with_local_defaults()
            .map_err(unreachable)?
            .negotiate_version()
            .await
            .map_err(unreachable)?;
        Ok(DockerRuntime {
            docker,
            compose: Arc::default(),
            compose_timeout: DEFAULT_COMPOSE_TIMEOUT,
        })
    }

    /// This runtime, with compose commands stopped and failed after `limit` instead of
    /// [`DEFAULT_COMPOSE_TIMEOUT`].
    pub fn with_compose_timeout(mut self, limit: Duration) -> Self {
        self.compose_timeout = limit;
        self
    }

    /// The compose tool, found by [`ComposeTool::detect`] the first time it is needed.
    pub async fn compose_tool(&self) -> Result<&ComposeTool, RuntimeError> {
        self.compose.get_or_try_init(ComposeTool::detect).await
    }

    /// Runs the compose tool (found on first use) with `args` for `project`.
    pub(crate) async fn compose(
        &self,
        project: &str,
        compose_file: &Path,
        env_file: &Path,
        args: &[&str],
    ) -> Result<(), RuntimeError> {
        self.compose_tool()
            .await?
            .run(project, compose_file, env_file, args, self.compose_timeout)
            .await
    }

    /// The compose command as a person would type it (`docker compose` or
    /// `docker-compose`), when this runtime has needed it so far.
    pub fn compose_command(&self) -> Option<&'static str> {
        self.compose.get().map(ComposeTool::command)
    }

    /// The underlying bollard client, for what this adapter does not cover.
    pub fn engine(&self) -> &Docker {
        &self.docker
    }

    pub(crate) async fn inspect(&self, id: &str) -> Result<ContainerInspectResponse, RuntimeError> {
        self.docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| RuntimeError::engine(format!("inspect container {id}"), e))
    }

    /// The project's containers with each one's exit code.
    async fn containers_with_exit_codes(
        &self,
        project: &str,
    ) -> Result<Vec<(ContainerState, Option<i64>)>, RuntimeError> {
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![format!("{PROJECT_LABEL}={project}")],
        )]);
        let options = ListContainersOptions {
            all: true,
            filters,
            ..Default::default()
        };
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| {
                RuntimeError::engine(format!("list containers of project {project}"), e)
            })?;
        let mut out = Vec::with_capacity(summaries.len());
        for id in summaries.into_iter().filter_map(|s| s.id) {
            match self.inspect(&id).await {
                Ok(inspected) => out.push(to_state(id, inspected)),
                // Removed between the list and the inspect: it is no longer the project's.
                Err(RuntimeError::Engine { reason, .. })
                    if reason.contains("No such container") => {}
                Err(err) => return Err(err),
            }
        }
        out.sort_by(|(a, _), (b, _)| (&a.service, &a.name).cmp(&(&b.service, &b.name)));
        Ok(out)
    }

    /// The last lines of a container's stdout and stderr, best effort.
    pub(crate) async fn log_tail(&self, id: &str) -> String {
        let options = LogsOptions::<String> {
            stdout: true,
            stderr: true,
            tail: LOG_TAIL_LINES.to_string(),
            ..Default::default()
        };
        let mut stream = self.docker.logs(id, Some(options));
        let mut text = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => text.push_str(&String::from_utf8_lossy(&chunk.into_bytes())),
                Err(err) => {
                    text.push_str(&format!("(could not read logs: {err})"));
                    break;
                }
            }
        }
        tail_lines(&text, LOG_TAIL_LINES)
    }

    async fn unhealthy(
        &self,
        service: &str,
        state: String,
        container: Option<&str>,
    ) -> RuntimeError {
        let log_tail = match container {
            Some(id) => self.log_tail(id).await,
            None => String::new(),
        };
        RuntimeError::Unhealthy {
            service: service.to_owned(),
            state,
            log_tail,
        }
    }
}

/// A [`ContainerState`] and exit code from an inspect response.
fn to_state(id: String, inspected: ContainerInspectResponse) -> (ContainerState, Option<i64>) {
    let config = inspected.config.unwrap_or_default();
    let state = inspected.state.unwrap_or_default();
    let service = config
        .labels
        .as_ref()
        .and_then(|labels| labels.get(SERVICE_LABEL).cloned())
        .unwrap_or_default();
    let health = state
        .health
        .and_then(|h| h.status)
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty() && s != "none");
    let container = ContainerState {
        id,
        name: inspected
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        service,
        image: config.image.unwrap_or_default(),
        image_id: inspected.image.unwrap_or_default(),
        running: state.running.unwrap_or(false),
        health,
        state: state.status.map(|s| s.to_string()).unwrap_or_default(),
        restart_count: inspected.restart_count.unwrap_or(0),
    };
    (container, state.exit_code)
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn pull(
        &self,
        image: &str,
        registry_host: &str,
        token: &str,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<(), RuntimeError> {
        pull::pull(&self.docker, image, registry_host, token, progress).await
    }

    async fn image_present(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(err) => Err(RuntimeError::engine(format!("inspect image {image}"), err)),
        }
    }

    async fn compose_up(
        &self,
        project: &str,
        compose_file: &Path,
        env_file: &Path,
    ) -> Result<(), RuntimeError> {
        self.compose(
            project,
            compose_file,
            env_file,
            &["up", "-d", "--remove-orphans"],
        )
        .await
    }

    async fn compose_up_services(
        &self,
        project: &str,
        compose_file: &Path,
        env_file: &Path,
        services: &[String],
    ) -> Result<(), RuntimeError> {
        let mut args = vec!["up", "-d", "--no-deps"];
        args.extend(services.iter().map(String::as_str));
        self.compose(project, compose_file, env_file, &args).await
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        let opts = bollard::container::RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        self.engine()
            .remove_container(id, Some(opts))
            .await
            .map_err(|e| RuntimeError::Engine {
                what: format!("removing container {id}"),
                reason: e.to_string(),
            })
    }

    async fn compose_down(
        &self,
        project: &str,
        compose_file: &Path,
        env_file: &Path,
    ) -> Result<(), RuntimeError> {
        self.compose(
            project,
            compose_file,
            env_file,
            &["down", "--remove-orphans"],
        )
        .await
    }

    async fn compose_down_removing_volumes(
        &self,
        project: &str,
        compose_file: &Path,
        env_file: &Path,
    ) -> Result<(), RuntimeError> {
        self.compose(
            project,
            compose_file,
            env_file,
            &["down", "--remove-orphans", "--volumes"],
        )
        .await
    }

    async fn project_containers(&self, project: &str) -> Result<Vec<ContainerState>, RuntimeError> {
        let all = self.containers_with_exit_codes(project).await?;
        Ok(all.into_iter().map(|(c, _)| c).collect())
    }

    async fn wait_healthy(
        &self,
        project: &str,
        services: &[String],
        gate: HealthGate,
    ) -> Result<(), RuntimeError> {
        let deadline = tokio::time::Instant::now() + gate.timeout;
        let mut settle = Settle::new(gate.settle);
        loop {
            let containers = self.containers_with_exit_codes(project).await?;
            let now = std::time::Instant::now();
            let mut first_pending = None;
            for service in services {
                match service_status(service, &containers, &mut settle, now) {
                    ServiceStatus::Ready => {}
                    ServiceStatus::Failed { state, container } => {
                        return Err(self.unhealthy(service, state, Some(&container)).await);
                    }
                    ServiceStatus::Pending { state, container } => {
                        first_pending.get_or_insert((service, state, container));
                    }
                }
            }
            let Some((service, state, container)) = first_pending else {
                return Ok(());
            };
            if tokio::time::Instant::now() >= deadline {
                let state = format!("{state} after {}s", gate.timeout.as_secs());
                return Err(self.unhealthy(service, state, container.as_deref()).await);
            }
            tokio::time::sleep(HEALTH_POLL).await;
        }
    }

    async fn free_disk_bytes(&self) -> Result<Option<u64>, RuntimeError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| RuntimeError::engine("report its data root (docker info)", e))?;
        let Some(root) = info.docker_root_dir else {
            return Ok(None);
        };
        let name = info.name;
        // statvfs is a blocking syscall; keep it off the async workers.
        tokio::task::spawn_blocking(move || disk::free_bytes(Path::new(&root), name.as_deref()))
            .await
            .map_err(|e| RuntimeError::Engine {
                what: "measure free disk space".to_owned(),
                reason: e.to_string(),
            })
    }

    async fn run_job(
        &self,
        project: &str,
        compose_file: &Path,
        env_file: &Path,
        service: &str,
        timeout: Duration,
    ) -> Result<JobOutcome, RuntimeError> {
        self.run_job_once(project, compose_file, env_file, service, timeout)
            .await
    }

    async fn find_volume(
        &self,
        project: &str,
        volume: &str,
    ) -> Result<Option<String>, RuntimeError> {
        self.volume_of(project, volume).await
    }

    async fn snapshot_volume(
        &self,
        name: &str,
        image: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<u64, RuntimeError> {
        self.snapshot(name, image, dest, max_bytes).await
    }

    async fn restore_volume(
        &self,
        name: &str,
        image: &str,
        src: &Path,
    ) -> Result<(), RuntimeError> {
        self.restore(name, image, src).await
    }

    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
        self.remove_named_volume(name).await
    }
}
