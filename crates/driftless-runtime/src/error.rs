//! The runtime adapter's error type: one readable line per failure.

/// Why a runtime operation failed.
///
/// Messages name what failed (image, project, service), [`RuntimeError::hint`] what to do
/// next; none ever contains a registry token.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The Docker Engine could not be reached or did not answer.
    #[error("cannot reach the docker engine: {reason}")]
    EngineUnreachable {
        /// What went wrong while connecting.
        reason: String,
    },
    /// Pulling an image failed.
    #[error("cannot pull image {image}: {reason}")]
    Pull {
        /// The image reference being pulled.
        image: String,
        /// The engine's message.
        reason: String,
        /// What to do about it, read from the engine's message.
        hint: &'static str,
    },
    /// The compose tool exited with an error.
    #[error("{action} failed: {}", one_line(stderr_tail))]
    Compose {
        /// What was run, naming the project (`docker-compose up for project acme`).
        action: String,
        /// The last lines the compose tool wrote to stderr.
        stderr_tail: String,
    },
    /// A service did not become running and healthy.
    #[error(
        "service {service} is not healthy: {state}; last log lines: {}",
        one_line(log_tail)
    )]
    Unhealthy {
        /// The compose service name.
        service: String,
        /// Its state, naming the container (`container acme-web-1 exited with code 1`).
        state: String,
        /// The last lines of its logs.
        log_tail: String,
    },
    /// Neither `docker compose` (v2) nor `docker-compose` (v1) can be run.
    #[error("neither `docker compose` nor `docker-compose` works on this host")]
    NoCompose,
    /// A volume's snapshot could not be taken or restored.
    #[error("cannot snapshot or restore volume {volume}: {reason}")]
    Snapshot {
        /// The engine's name of the volume.
        volume: String,
        /// What went wrong.
        reason: String,
    },
    /// A volume holds more than the room its snapshot may take.
    #[error("volume {volume} holds more than the {max_bytes} bytes free for its snapshot")]
    SnapshotTooLarge {
        /// The engine's name of the volume.
        volume: String,
        /// The room there was.
        max_bytes: u64,
    },
    /// The engine refused or failed a request.
    #[error("docker engine could not {what}: {reason}")]
    Engine {
        /// What was asked of the engine (`inspect container acme-web-1`).
        what: String,
        /// The engine's answer.
        reason: String,
    },
}

/// Joins multi-line text (stderr, logs) so the error still displays as one line.
fn one_line(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    if joined.is_empty() {
        "(nothing)".to_owned()
    } else {
        joined
    }
}

impl RuntimeError {
    /// What a person can do about it, printed under the error line.
    pub fn hint(&self) -> Option<String> {
        let text = match self {
            RuntimeError::EngineUnreachable { .. } => {
                "start docker, or point DOCKER_HOST at its unix socket"
            }
            RuntimeError::Compose { .. } => "fix what it reports, then run sync again",
            RuntimeError::NoCompose => {
                "install the docker compose plugin (v2) or docker-compose (v1)"
            }
            RuntimeError::Pull { hint, .. } => hint,
            _ => return None,
        };
        Some(text.into())
    }

    /// Whether this is a pull the registry refused the credential for (an expired or
    /// wrongly scoped token): a fresh token may get it through.
    pub fn refused_credential(&self) -> bool {
        matches!(self, RuntimeError::Pull { reason, .. } if reason.ends_with(&format!("({})", crate::pull::REFUSED_TOKEN)))
    }

    /// An [`RuntimeError::Engine`] from a bollard error, or
    /// [`RuntimeError::EngineUnreachable`] when the engine did not answer at all.
    pub(crate) fn engine(what: impl Into<String>, err: bollard::errors::Error) -> Self {
        use bollard::errors::Error as E;
        match err {
            E::DockerResponseServerError { message, .. } => RuntimeError::Engine {
                what: what.into(),
                reason: message,
            },
            E::HyperResponseError { .. }
            | E::HyperLegacyError { .. }
            | E::IOError { .. }
            | E::SocketNotFoundError(_)
            | E::RequestTimeoutError => RuntimeError::EngineUnreachable {
                reason: err.to_string(),
            },
            other => RuntimeError::Engine {
                what: what.into(),
                reason: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_error_displays_on_one_line() {
        let err = RuntimeError::Compose {
            action: "docker-compose up for project acme".into(),
            stderr_tail: "Creating acme_web_1 ...\nERROR: no such image\n".into(),
        };
        let shown = err.to_string();
        assert!(!shown.contains('\n'), "{shown}");
        assert!(shown.contains("project acme"), "{shown}");
        assert!(shown.contains("ERROR: no such image"), "{shown}");
    }

    #[test]
    fn unhealthy_error_names_service_and_logs() {
        let err = RuntimeError::Unhealthy {
            service: "web".into(),
            state: "container acme-web-1 exited with code 1".into(),
            log_tail: "boom\n".into(),
        };
        assert_eq!(
            err.to_string(),
            "service web is not healthy: container acme-web-1 exited with code 1; last log lines: boom"
        );
    }
}
