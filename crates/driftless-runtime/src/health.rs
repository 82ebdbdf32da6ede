//! Deciding, from a project's containers, whether a service is up, still starting or
//! failed.
//!
//! A container with a healthcheck is ready when the engine says `healthy`. One without
//! is ready only once it has been seen running, on the same restart count, for the
//! release's settle window: "running" alone is true for the second before a crash, so
//! a service that dies at start must never win the race against the first poll.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ContainerState;

/// Where one service stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServiceStatus {
    /// Every container of the service is ready.
    Ready,
    /// Not ready yet; it may still get there. `container` is the one to blame, if any.
    Pending {
        /// What it is doing, naming the container.
        state: String,
        /// The container whose logs explain it.
        container: Option<String>,
    },
    /// It will not get there by waiting: a container exited, died, restarted or turned
    /// unhealthy.
    Failed {
        /// What happened, naming the container.
        state: String,
        /// The container whose logs explain it.
        container: String,
    },
}

/// What the poller remembers between polls: each container's restart count and when
/// it was first seen running on it.
#[derive(Debug)]
pub(crate) struct Settle {
    window: Duration,
    first_running: HashMap<String, (i64, Instant)>,
}

impl Settle {
    /// A tracker for a settle window of `window`.
    pub(crate) fn new(window: Duration) -> Self {
        Settle {
            window,
            first_running: HashMap::new(),
        }
    }

    /// Records a running container seen at `now`; fails when it restarted since it was
    /// first seen, else says how long it has been seen running.
    fn observe(&mut self, c: &ContainerState, now: Instant) -> Result<Duration, String> {
        let (count, since) = *self
            .first_running
            .entry(c.id.clone())
            .or_insert((c.restart_count, now));
        if c.restart_count != count {
            return Err(format!(
                "container {} restarted while the release settled (restart count {count} -> {})",
                c.name, c.restart_count
            ));
        }
        Ok(now.saturating_duration_since(since))
    }
}

/// The status of `service` given all of its project's containers and their exit codes,
/// as seen at `now`.
pub(crate) fn service_status(
    service: &str,
    containers: &[(ContainerState, Option<i64>)],
    settle: &mut Settle,
    now: Instant,
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
        match container_status(c, *exit_code, settle, now) {
            ServiceStatus::Ready => {}
            failed @ ServiceStatus::Failed { .. } => return failed,
            p @ ServiceStatus::Pending { .. } => {
                pending.get_or_insert(p);
            }
        }
    }
    pending.unwrap_or(ServiceStatus::Ready)
}

fn container_status(
    c: &ContainerState,
    exit_code: Option<i64>,
    settle: &mut Settle,
    now: Instant,
) -> ServiceStatus {
    let name = &c.name;
    let failed = |state: String| ServiceStatus::Failed {
        state,
        container: c.id.clone(),
    };
    if matches!(c.state.as_str(), "exited" | "dead") {
        let code = exit_code.map_or_else(|| "unknown".to_owned(), |code| code.to_string());
        return failed(format!("container {name} {} with code {code}", c.state));
    }
    if c.state == "restarting" {
        // The engine restarts a container only after it stopped: a crash loop.
        return failed(format!(
            "container {name} is restarting after exiting (restart count {})",
            c.restart_count
        ));
    }
    if !c.running {
        return ServiceStatus::Pending {
            state: format!("container {name} is {}", c.state),
            container: Some(c.id.clone()),
        };
    }
    let up_for = match settle.observe(c, now) {
        Ok(d) => d,
        Err(why) => return failed(why),
    };
    match c.health.as_deref() {
        Some("healthy") => ServiceStatus::Ready,
        None | Some("none") | Some("") if up_for >= settle.window => ServiceStatus::Ready,
        None | Some("none") | Some("") => ServiceStatus::Pending {
            state: format!(
                "container {name} has been running for {}s of its {}s settle window",
                up_for.as_secs(),
                settle.window.as_secs()
            ),
            container: Some(c.id.clone()),
        },
        Some("unhealthy") => failed(format!(
            "container {name} is running but its healthcheck reports unhealthy"
        )),
        Some(other) => ServiceStatus::Pending {
            state: format!("container {name} is running, health {other}"),
            container: Some(c.id.clone()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(5);

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
            restart_count: 0,
        }
    }

    /// The status of `service` at `at` after the tracker's first poll at `t0`.
    fn status_at(
        service: &str,
        all: &[(ContainerState, Option<i64>)],
        settle: &mut Settle,
        at: Instant,
    ) -> ServiceStatus {
        service_status(service, all, settle, at)
    }

    #[test]
    fn running_without_healthcheck_is_ready_only_after_the_settle_window() {
        let all = [(container("web", "running", None), Some(0))];
        let mut settle = Settle::new(WINDOW);
        let t0 = Instant::now();
        assert!(matches!(
            status_at("web", &all, &mut settle, t0),
            ServiceStatus::Pending { .. }
        ));
        assert!(matches!(
            status_at(
                "web",
                &all,
                &mut settle,
                t0 + WINDOW - Duration::from_millis(1)
            ),
            ServiceStatus::Pending { .. }
        ));
        assert_eq!(
            status_at("web", &all, &mut settle, t0 + WINDOW),
            ServiceStatus::Ready
        );
    }

    #[test]
    fn a_container_that_exits_inside_the_settle_window_fails_the_service() {
        // The race the settle window closes: seen running once, then exited.
        let mut settle = Settle::new(WINDOW);
        let t0 = Instant::now();
        let running = [(container("web", "running", None), Some(0))];
        assert!(matches!(
            status_at("web", &running, &mut settle, t0),
            ServiceStatus::Pending { .. }
        ));
        let exited = [(container("web", "exited", None), Some(1))];
        match status_at("web", &exited, &mut settle, t0 + Duration::from_secs(1)) {
            ServiceStatus::Failed { state, .. } => {
                assert_eq!(state, "container p-web-1 exited with code 1");
            }
            other => panic!("expected failure, got {other:?}"),
        }
    }

    #[test]
    fn a_restart_while_settling_fails_even_if_it_runs_again() {
        let mut settle = Settle::new(WINDOW);
        let t0 = Instant::now();
        let mut c = container("web", "running", None);
        let first = [(c.clone(), Some(0))];
        status_at("web", &first, &mut settle, t0);
        c.restart_count = 1;
        let again = [(c, Some(0))];
        match status_at("web", &again, &mut settle, t0 + WINDOW) {
            ServiceStatus::Failed { state, .. } => {
                assert!(
                    state.contains("restarted while the release settled"),
                    "{state}"
                );
                assert!(state.contains("0 -> 1"), "{state}");
            }
            other => panic!("expected failure, got {other:?}"),
        }
    }

    #[test]
    fn a_restarting_container_is_a_crash_loop() {
        let mut settle = Settle::new(WINDOW);
        let all = [(container("web", "restarting", None), Some(1))];
        assert!(matches!(
            status_at("web", &all, &mut settle, Instant::now()),
            ServiceStatus::Failed { .. }
        ));
    }

    #[test]
    fn a_healthy_container_is_ready_without_waiting_for_the_window() {
        let mut settle = Settle::new(WINDOW);
        let all = [(container("web", "running", Some("healthy")), Some(0))];
        assert_eq!(
            status_at("web", &all, &mut settle, Instant::now()),
            ServiceStatus::Ready
        );
    }

    #[test]
    fn starting_healthcheck_is_pending() {
        let mut settle = Settle::new(WINDOW);
        let all = [(container("web", "running", Some("starting")), Some(0))];
        assert!(matches!(
            status_at("web", &all, &mut settle, Instant::now() + WINDOW * 2),
            ServiceStatus::Pending { .. }
        ));
    }

    #[test]
    fn exited_container_fails_with_its_code() {
        let mut settle = Settle::new(WINDOW);
        let now = Instant::now();
        let all = [
            (container("web", "running", Some("healthy")), Some(0)),
            (container("worker", "exited", None), Some(1)),
        ];
        assert_eq!(
            status_at("web", &all, &mut settle, now),
            ServiceStatus::Ready
        );
        match status_at("worker", &all, &mut settle, now) {
            ServiceStatus::Failed { state, .. } => {
                assert_eq!(state, "container p-worker-1 exited with code 1");
            }
            other => panic!("expected failure, got {other:?}"),
        }
    }

    #[test]
    fn missing_service_is_pending() {
        let mut settle = Settle::new(WINDOW);
        let all = [(container("web", "running", None), Some(0))];
        assert!(matches!(
            status_at("db", &all, &mut settle, Instant::now()),
            ServiceStatus::Pending {
                container: None,
                ..
            }
        ));
    }
}
