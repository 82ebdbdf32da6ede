//! Checks of the status history: one transition per change of the reported status,
//! none for a report that repeats it or for a heartbeat, pruned by time.

use std::sync::Arc;

use driftless_store::{CheckinReport, Heartbeat, Store};

use crate::{report, seed_install, seed_license, NOW};

/// Generates the status-history checks; `conformance_tests!` includes them.
#[macro_export]
macro_rules! status_history_conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@each $open;
            status_transitions_are_written_only_on_change,
            status_transitions_are_pruned_by_time,
            install_summary_is_the_fleet_row_of_one_install,
        );
    };
}

fn with_status(at: i64, status: &str, version: &str) -> CheckinReport {
    CheckinReport {
        status: status.into(),
        reason: status
            .starts_with("failed")
            .then(|| r#"{"code":"health_failed"}"#.into()),
        ..report(at, Some(version))
    }
}

/// A report that changes the status is a transition (newest first, with the version
/// and reason reported); the first report, one that repeats the status, and a
/// heartbeat write none.
pub async fn status_transitions_are_written_only_on_change<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    seed_install(&*store, &license, "i-2").await;
    let steps = [
        (NOW, "converged", "1.0.0"),
        (NOW + 10, "converged", "1.0.0"),
        (NOW + 20, "failed:health", "1.1.0"),
        (NOW + 30, "failed:health", "1.1.0"),
        (NOW + 40, "converged", "1.0.0"),
    ];
    for (at, status, version) in steps {
        let r = with_status(at, status, version);
        store.record_checkin("i-1", &r, None).await.unwrap();
    }
    let beat = Heartbeat {
        install_id: "i-1".into(),
        at: NOW + 50,
        signed_at_ms: (NOW + 50) * 1000,
    };
    store.record_heartbeats(&[beat]).await.unwrap();
    let history = store.status_transitions("i-1", 10).await.unwrap();
    let seen: Vec<(i64, Option<&str>, &str)> = history
        .iter()
        .map(|t| (t.at, t.from_status.as_deref(), t.to_status.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (NOW + 40, Some("failed:health"), "converged"),
            (NOW + 20, Some("converged"), "failed:health"),
        ]
    );
    assert_eq!(history[1].version.as_deref(), Some("1.1.0"));
    assert!(history[1]
        .reason
        .as_deref()
        .unwrap()
        .contains("health_failed"));
    assert_eq!(store.status_transitions("i-1", 1).await.unwrap().len(), 1);
    assert!(store
        .status_transitions("i-2", 10)
        .await
        .unwrap()
        .is_empty());
}

/// Pruning deletes the transitions older than the given time and keeps the rest.
pub async fn status_transitions_are_pruned_by_time<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    let steps = [
        (NOW, "new"),
        (NOW + 1, "applying"),
        (NOW + 100, "converged"),
    ];
    for (at, status) in steps {
        let r = with_status(at, status, "1.0.0");
        store.record_checkin("i-1", &r, None).await.unwrap();
    }
    assert_eq!(store.prune_status_transitions(NOW + 50).await.unwrap(), 1);
    let left = store.status_transitions("i-1", 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].to_status, "converged");
}

/// One install's fleet row is the one the fleet list shows for it; an unknown id is none.
pub async fn install_summary_is_the_fleet_row_of_one_install<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    seed_install(&*store, &license, "i-1").await;
    seed_install(&*store, &license, "i-2").await;
    let r = with_status(NOW, "failed:health", "1.0.0");
    store.record_checkin("i-2", &r, None).await.unwrap();
    let listed = store.list_installs(Some("acme")).await.unwrap();
    for id in ["i-1", "i-2"] {
        let one = store.install_summary(id).await.unwrap().unwrap();
        let row = listed.iter().find(|s| s.install.id == id).unwrap();
        assert_eq!(&one, row);
    }
    assert!(store.install_summary("i-9").await.unwrap().is_none());
}
