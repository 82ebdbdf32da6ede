//! Deciding, from a project's containers, whether a service is up, still starting or
//! failed.

use crate::ContainerState;

/// Where one service stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServiceStatus {
    /// Every container of the service runs, and is healthy where it has a healthcheck.
    Ready,
    /// Not ready yet; it may still get there. `container` is the one to blame, if any.
    Pending {
        /// What it is doing, naming the container.
        state: String,
        /// The container whose logs explain it.
        container: Option<String>,
    },
    /// It will not get there by waiting: a container exited, died or turned unhealthy.
    Failed {
        /// What happened, naming the container.
        state: String,
        /// The container whose logs explain it.
        container: String,
    },
}

/// The status of `service` given all of its project's containers and their exit codes.
pub(crate) fn service_status(
    service: &str,
    containers: &[(ContainerState, Option<i64>)],
) -> ServiceStatus {
    let mine: Vec<_> = containers
        .iter()
        .filter(|(c, _)| c.service == service)
        .collect();
    if mine.is_empty() {
        return ServiceStatus::Pending {
            state: "no container for this service yet".to_owned(),
            container: None,
        };
    }
    let mut pending = None;
    for (c, exit_code) in mine {
        match container_status(c, *exit_code) {
            ServiceStatus::Ready => {}
            failed @ ServiceStatus::Failed { .. } => return failed,
            p @ ServiceStatus::Pending { .. } => {
                pending.get_or_insert(p);
            }
        }
    }
    pending.unwrap_or(ServiceStatus::Ready)
}

fn container_status(c: &ContainerState, exit_code: Option<i64>) -> ServiceStatus {
    let name = &c.name;
    if matches!(c.state.as_str(), "exited" | "dead") {
        let code = exit_code.map_or_else(|| "unknown".to_owned(), |code| code.to_string());
        return ServiceStatus::Failed {
            state: format!("container {name} {} with code {code}", c.state),
            container: c.id.clone(),
        };
    }
    if !c.running {
        return ServiceStatus::Pending {
            state: format!("container {name} is {}", c.state),
            container: Some(c.id.clone()),
        };
    }
    match c.health.as_deref() {
        None | Some("healthy") | Some("none") | Some("") => ServiceStatus::Ready,
        Some("unhealthy") => ServiceStatus::Failed {
            state: format!("container {name} is running but its healthcheck reports unhealthy"),
            container: c.id.clone(),
        },
        Some(other) => ServiceStatus::Pending {
            state: format!("container {name} is running, health {other}"),
            container: Some(c.id.clone()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(service: &str, state: &str, health: Option<&str>) -> ContainerState {
        ContainerState {
            id: format!("id-{service}"),
            name: format!("p-{service}-1"),
            service: service.into(),
            image: "img".into(),
            image_id: "sha256:0".into(),
            running: state == "running",
            health: health.map(str::to_owned),
            state: state.into(),
        }
    }

    #[test]
    fn running_without_healthcheck_is_ready() {
        let all = [(container("web", "running", None), Some(0))];
        assert_eq!(service_status("web", &all), ServiceStatus::Ready);
    }

    #[test]
    fn starting_healthcheck_is_pending() {
        let all = [(container("web", "running", Some("starting")), Some(0))];
        assert!(matches!(
            service_status("web", &all),
            ServiceStatus::Pending { .. }
        ));
    }

    #[test]
    fn exited_container_fails_with_its_code() {
        let all = [
            (container("web", "running", Some("healthy")), Some(0)),
            (container("worker", "exited", None), Some(1)),
        ];
        assert_eq!(service_status("web", &all), ServiceStatus::Ready);
        match service_status("worker", &all) {
            ServiceStatus::Failed { state, .. } => {
                assert_eq!(state, "container p-worker-1 exited with code 1");
            }
            other => panic!("expected failure, got {other:?}"),
        }
    }

    #[test]
    fn missing_service_is_pending() {
        let all = [(container("web", "running", None), Some(0))];
        assert!(matches!(
            service_status("db", &all),
            ServiceStatus::Pending {
                container: None,
                ..
            }
        ));
    }
}
