//! Snapshots of named volumes through the Engine API: a helper container, created from
//! an image already on the host and never started, mounts the volume; its content is
//! read (`GET /containers/{id}/archive`) into a tar file, and written back
//! (`PUT /containers/{id}/archive`) into a volume recreated empty with the same name,
//! driver and labels. No shell is needed in the image, so `FROM scratch` images work.

use std::collections::HashMap;
use std::path::Path;

use bollard::container::{
    Config, CreateContainerOptions, DownloadFromContainerOptions, RemoveContainerOptions,
    UploadToContainerOptions,
};
use bollard::models::HostConfig;
use bollard::volume::{CreateVolumeOptions, ListVolumesOptions, RemoveVolumeOptions};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt as _;

use crate::{DockerRuntime, RuntimeError, PROJECT_LABEL};

/// The label compose puts on a volume naming its key in the compose file.
pub const VOLUME_LABEL: &str = "com.docker.compose.volume";
/// Where the helper container mounts the volume; tar entries are named under it.
const MOUNT: &str = "/driftless-volume";
/// The helper's command: never run (the helper is only created), but the engine
/// wants one when the image declares none.
const NEVER_RUN: &str = "/driftless-snapshot-helper-is-never-started";
/// Bytes read from a snapshot file per upload chunk.
const CHUNK: usize = 256 * 1024;

impl DockerRuntime {
    /// See [`crate::ContainerRuntime::find_volume`].
    pub(crate) async fn volume_of(
        &self,
        project: &str,
        volume: &str,
    ) -> Result<Option<String>, RuntimeError> {
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{PROJECT_LABEL}={project}"),
                format!("{VOLUME_LABEL}={volume}"),
            ],
        )]);
        let listed = self
            .engine()
            .list_volumes(Some(ListVolumesOptions { filters }))
            .await
            .map_err(|e| RuntimeError::engine(format!("list volume {volume} of {project}"), e))?;
        Ok(listed
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .next())
    }

    /// A stopped helper container with `volume` mounted at [`MOUNT`]; returns its id.
    async fn helper(&self, volume: &str, image: &str) -> Result<String, RuntimeError> {
        let config = Config {
            image: Some(image.to_owned()),
            cmd: Some(vec![NEVER_RUN.to_owned()]),
            entrypoint: Some(vec![]),
            labels: Some(HashMap::from([(
                "io.driftless.helper".to_owned(),
                "volume-snapshot".to_owned(),
            )])),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                binds: Some(vec![format!("{volume}:{MOUNT}")]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .engine()
            .create_container(None::<CreateContainerOptions<String>>, config)
            .await
            .map_err(|e| {
                RuntimeError::engine(format!("create a helper container for volume {volume}"), e)
            })?;
        Ok(created.id)
    }

    async fn drop_helper(&self, id: &str) {
        let options = RemoveContainerOptions {
            force: true,
            v: false,
            ..Default::default()
        };
        if let Err(e) = self.engine().remove_container(id, Some(options)).await {
            eprintln!("warning: could not remove helper container {id}: {e}");
        }
    }

    /// See [`crate::ContainerRuntime::snapshot_volume`].
    pub(crate) async fn snapshot(
        &self,
        volume: &str,
        image: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<u64, RuntimeError> {
        let id = self.helper(volume, image).await?;
        let written = self.download(&id, volume, dest, max_bytes).await;
        self.drop_helper(&id).await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(dest).await;
        }
        written
    }

    async fn download(
        &self,
        id: &str,
        volume: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<u64, RuntimeError> {
        let file_error = |e: std::io::Error| RuntimeError::Snapshot {
            volume: volume.to_owned(),
            reason: format!("cannot write {}: {e}", dest.display()),
        };
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(dest)
            .await
            .map_err(file_error)?;
        let options = DownloadFromContainerOptions { path: MOUNT };
        let mut stream = self.engine().download_from_container(id, Some(options));
        let mut total: u64 = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                RuntimeError::engine(format!("read the content of volume {volume}"), e)
            })?;
            total = total.saturating_add(chunk.len() as u64);
            if total > max_bytes {
                return Err(RuntimeError::SnapshotTooLarge {
                    volume: volume.to_owned(),
                    max_bytes,
                });
            }
            file.write_all(&chunk).await.map_err(file_error)?;
        }
        file.sync_all().await.map_err(file_error)?;
        Ok(total)
    }

    /// See [`crate::ContainerRuntime::restore_volume`].
    pub(crate) async fn restore(
        &self,
        volume: &str,
        image: &str,
        src: &Path,
    ) -> Result<(), RuntimeError> {
        let recreated = self.recreate_empty(volume).await?;
        let id = self.helper(&recreated, image).await?;
        let uploaded = self.upload(&id, volume, src).await;
        self.drop_helper(&id).await;
        uploaded
    }

    /// Removes `volume` and creates it again, empty, with the same driver, options
    /// and labels (so compose still counts it as its own); returns its name.
    async fn recreate_empty(&self, volume: &str) -> Result<String, RuntimeError> {
        let what = |verb: &str| format!("{verb} volume {volume}");
        let found = match self.engine().inspect_volume(volume).await {
            Ok(v) => Some(v),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => None,
            Err(e) => return Err(RuntimeError::engine(what("inspect"), e)),
        };
        let (driver, driver_opts, labels) = match found {
            Some(v) => {
                self.remove_named_volume(volume).await?;
                (v.driver, v.options, v.labels)
            }
            None => ("local".to_owned(), HashMap::new(), HashMap::new()),
        };
        let options = CreateVolumeOptions {
            name: volume.to_owned(),
            driver,
            driver_opts,
            labels,
        };
        let created = self
            .engine()
            .create_volume(options)
            .await
            .map_err(|e| RuntimeError::engine(what("recreate"), e))?;
        Ok(created.name)
    }

    /// See [`crate::ContainerRuntime::remove_volume`].
    pub(crate) async fn remove_named_volume(&self, volume: &str) -> Result<(), RuntimeError> {
        match self
            .engine()
            .remove_volume(volume, Some(RemoveVolumeOptions { force: false }))
            .await
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(RuntimeError::engine(format!("remove volume {volume}"), e)),
        }
    }

    async fn upload(&self, id: &str, volume: &str, src: &Path) -> Result<(), RuntimeError> {
        let file = tokio::fs::File::open(src)
            .await
            .map_err(|e| RuntimeError::Snapshot {
                volume: volume.to_owned(),
                reason: format!("cannot read {}: {e}", src.display()),
            })?;
        // The upload stream carries bytes only: a read error is kept aside and reported
        // once the upload ends (the engine then holds a truncated archive).
        let read_error = std::sync::Arc::new(std::sync::Mutex::new(None::<std::io::Error>));
        let seen = std::sync::Arc::clone(&read_error);
        let chunks = futures_util::stream::unfold(file, move |mut file| {
            let seen = std::sync::Arc::clone(&seen);
            async move {
                let mut buf = vec![0u8; CHUNK];
                match tokio::io::AsyncReadExt::read(&mut file, &mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((bytes::Bytes::from(buf), file))
                    }
                    Err(e) => {
                        if let Ok(mut slot) = seen.lock() {
                            *slot = Some(e);
                        }
                        None
                    }
                }
            }
        });
        let options = UploadToContainerOptions {
            path: "/",
            ..Default::default()
        };
        self.engine()
            .upload_to_container_streaming(id, Some(options), chunks)
            .await
            .map_err(|e| {
                RuntimeError::engine(format!("restore the content of volume {volume}"), e)
            })?;
        let failed = read_error.lock().ok().and_then(|mut slot| slot.take());
        match failed {
            Some(e) => Err(RuntimeError::Snapshot {
                volume: volume.to_owned(),
                reason: format!("reading {} failed midway: {e}", src.display()),
            }),
            None => Ok(()),
        }
    }
}
