//! Run-once jobs: a compose service started with `compose run -d`, waited for through
//! the Engine API with a timeout, its exit code and last log lines kept, then removed.

use std::path::Path;
use std::time::Duration;

use bollard::container::{RemoveContainerOptions, WaitContainerOptions};
use futures_util::StreamExt;

use crate::{DockerRuntime, JobOutcome, RuntimeError};

/// Name of a job's container: unique, so a job left by a crash never blocks the next.
fn job_container_name(project: &str, service: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{project}-{service}-job-{nanos}")
}

impl DockerRuntime {
    /// See [`crate::ContainerRuntime::run_job`].
    pub(crate) async fn run_job_once(
        &self,
        project: &str,
        compose_file: &Path,
        env_file: &Path,
        service: &str,
        timeout: Duration,
    ) -> Result<JobOutcome, RuntimeError> {
        let name = job_container_name(project, service);
        self.compose(
            project,
            compose_file,
            env_file,
            &["run", "-d", "--name", &name, service],
        )
        .await?;
        let waited = tokio::time::timeout(timeout, self.wait_stopped(&name)).await;
        let exit_code = match waited {
            Ok(()) => self.inspect(&name).await?.state.and_then(|s| s.exit_code),
            Err(_) => None,
        };
        let log_tail = self.log_tail(&name).await;
        let removed = self
            .engine()
            .remove_container(
                &name,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
        if let Err(e) = removed {
            eprintln!("warning: could not remove job container {name}: {e}");
        }
        Ok(JobOutcome {
            service: service.to_owned(),
            exit_code,
            timed_out: waited.is_err(),
            log_tail,
        })
    }

    /// Returns once container `name` is not running. The engine answers a non-zero exit
    /// as an error of this stream; the exit code is read by inspecting afterwards.
    async fn wait_stopped(&self, name: &str) {
        let options = WaitContainerOptions {
            condition: "not-running",
        };
        let mut stream = self.engine().wait_container(name, Some(options));
        while stream.next().await.is_some() {}
    }
}
