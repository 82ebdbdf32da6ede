//! Container runtime adapter: Docker Engine API and docker compose.
//!
//! The rest of Driftless talks to the host's containers only through the
//! [`ContainerRuntime`] trait; [`DockerRuntime`] implements it with the Engine API
//! (through bollard) for pulls, inspection and logs, and the compose tool for
//! `up`/`down`, so the release's compose file means exactly what it means to a person
//! running `docker compose` by hand.

mod compose;
mod disk;
mod docker;
mod error;
mod health;
mod pull;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;

pub use compose::{ComposeTool, COMPOSE_PASSTHROUGH_ENV};
pub use docker::DockerRuntime;
pub use error::RuntimeError;

/// The label compose puts on every container of a project.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label compose puts on every container naming its service.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";

/// What the rest of Driftless needs from the host's container engine.
#[async_trait]
pub trait ContainerRuntime: Send + Sync {
    /// Pulls `image` (`127.0.0.1:5000/acme/web@sha256:…`) through the Engine API,
    /// passing `token` as the registry bearer token for this request only (never
    /// written to disk), and calls `progress` with each status update.
    async fn pull(
        &self,
        image: &str,
        registry_host: &str,
        token: &str,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<(), RuntimeError>;

    /// Whether the engine has `image` (a reference or an image id) locally.
    async fn image_present(&self, image: &str) -> Result<bool, RuntimeError>;

    /// Runs `up -d --remove-orphans` for `project` with `compose_file` and `env_file`,
    /// in the compose file's directory, with a cleared environment (see
    /// [`COMPOSE_PASSTHROUGH_ENV`]) so host variables cannot override the release's values.
    async fn compose_up(
        &self,
        project: &str,
        compose_file: &Path,
        env_file: &Path,
    ) -> Result<(), RuntimeError>;

    /// `up -d --no-deps` for only `services` of the project (a partial bring-up).
    async fn compose_up_services(
        &self,
        project: &str,
        compose_file: &Path,
        env_file: &Path,
        services: &[String],
    ) -> Result<(), RuntimeError>;

    /// Removes one container, running or not.
    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError>;

    /// Runs `down --remove-orphans` for `project` (volumes are kept: they hold the
    /// customer's data).
    async fn compose_down(
        &self,
        project: &str,
        compose_file: &Path,
        env_file: &Path,
    ) -> Result<(), RuntimeError>;

    /// Runs `down --remove-orphans --volumes` for `project`: its named volumes, and the
    /// customer's data in them, are removed too (`driftless uninstall` without
    /// `--keep-data`).
    async fn compose_down_removing_volumes(
        &self,
        project: &str,
        compose_file: &Path,
        env_file: &Path,
    ) -> Result<(), RuntimeError>;

    /// Containers labelled `com.docker.compose.project=<project>`, stopped ones included,
    /// sorted by service then name.
    async fn project_containers(&self, project: &str) -> Result<Vec<ContainerState>, RuntimeError>;

    /// Waits until every service in `services` is ready: each container healthy where it
    /// has a healthcheck, else running with no restart for the gate's settle window.
    /// Fails naming the service, its state and its last log lines when the gate's
    /// timeout passes, or at once when a container exits, restarts or turns unhealthy.
    async fn wait_healthy(
        &self,
        project: &str,
        services: &[String],
        gate: HealthGate,
    ) -> Result<(), RuntimeError>;

    /// Free bytes on the filesystem of the engine's data root, when that filesystem is
    /// on this host (`None` when it cannot be known, e.g. a remote engine or a VM).
    async fn free_disk_bytes(&self) -> Result<Option<u64>, RuntimeError>;
}

/// One container of a compose project, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    /// Full container id.
    pub id: String,
    /// Container name without the leading `/`.
    pub name: String,
    /// Compose service name (from the `com.docker.compose.service` label).
    pub service: String,
    /// The image as configured (the reference written in the compose file).
    pub image: String,
    /// The id (`sha256:…`) of the image the container runs.
    pub image_id: String,
    /// Whether the container is running.
    pub running: bool,
    /// Health status (`starting`, `healthy`, `unhealthy`) when it has a healthcheck.
    pub health: Option<String>,
    /// Engine state: `created`, `running`, `restarting`, `exited`, `dead`, ...
    pub state: String,
    /// How many times the engine restarted it (its restart policy at work).
    pub restart_count: i64,
}

/// When a release's services count as ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthGate {
    /// How long to wait for every service before failing.
    pub timeout: Duration,
    /// How long a service without a healthcheck must stay running, with no restart,
    /// before it counts as ready.
    pub settle: Duration,
}

/// A status update from an image pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullProgress {
    /// One line of the engine's pull stream.
    Status {
        /// Layer id the update is about, if any.
        id: Option<String>,
        /// The engine's status text (`Downloading`, `Pull complete`, ...).
        status: String,
        /// Bytes done so far, for download/extract updates.
        current: Option<u64>,
        /// Total bytes, for download/extract updates.
        total: Option<u64>,
    },
}
