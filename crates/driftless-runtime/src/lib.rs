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
mod jobs;
mod pull;
mod volumes;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;

pub use compose::{ComposeTool, COMPOSE_PASSTHROUGH_ENV, DEFAULT_COMPOSE_TIMEOUT};
pub use disk::free_bytes;
pub use docker::DockerRuntime;
pub use error::RuntimeError;
pub use volumes::VOLUME_LABEL;

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

    /// Runs `service` of the project once (`compose run -d`, so with the release's
    /// config, volumes and networks), waits for it to stop for at most `timeout` (then
    /// stops it), and returns its exit code and last log lines. Its container is removed.
    async fn run_job(
        &self,
        project: &str,
        compose_file: &Path,
        env_file: &Path,
        service: &str,
        timeout: Duration,
    ) -> Result<JobOutcome, RuntimeError>;

    /// The engine's name of volume `volume` (its key in the compose file) of `project`,
    /// when compose has created it.
    async fn find_volume(
        &self,
        project: &str,
        volume: &str,
    ) -> Result<Option<String>, RuntimeError>;

    /// Writes the content of volume `name` as a tar to `dest` (mode 0600), through a
    /// helper container of `image` (already on the host; it is never started), refusing
    /// past `max_bytes`; returns the bytes written. Nothing may write to the volume meanwhile.
    async fn snapshot_volume(
        &self,
        name: &str,
        image: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<u64, RuntimeError>;

    /// Replaces the content of volume `name` with the tar at `src` (from
    /// [`ContainerRuntime::snapshot_volume`]): the volume is recreated empty with the
    /// same driver and labels, then filled. No container may use it meanwhile.
    async fn restore_volume(&self, name: &str, image: &str, src: &Path)
        -> Result<(), RuntimeError>;

    /// Removes volume `name` (nothing when it does not exist).
    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError>;
}

/// How a run-once job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    /// The compose service run.
    pub service: String,
    /// Its exit code; `None` when it was stopped at its timeout.
    pub exit_code: Option<i64>,
    /// Whether it ran past its timeout.
    pub timed_out: bool,
    /// Its last log lines.
    pub log_tail: String,
}

impl JobOutcome {
    /// Whether the job ran to completion with exit code 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
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
