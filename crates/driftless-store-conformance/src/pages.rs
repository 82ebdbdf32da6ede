//! Checks of the paged lists and the fleet summary (`list_installs_page`,
//! `fleet_summary`, `stale_installs`, `list_audit_page`).

use std::collections::BTreeMap;
use std::sync::Arc;

use driftless_store::{
    CheckinReport, FleetCount, Heartbeat, InstallCursor, InstallFilter, InstallShow, License,
    StaleCount, Store,
};

use crate::{audit_event, report, seed_license, NOW};

/// How many installs the paging check registers: enough for dozens of pages.
const FLEET: usize = 2_500;

/// Registers `count` installs of `license`'s app; several share a second and ids do not
/// follow registration order, so the order's tie-break is exercised.
async fn seed_fleet<S: Store>(store: &S, license: &License, count: usize) -> Vec<(i64, String)> {
    let mut registered = Vec::with_capacity(count);
    for n in 0..count {
        // Ids descend while times ascend in steps shared by seven installs.
        let id = format!("{}-{:05}", license.app, count - n);
        let created_at = NOW + (n / 7) as i64;
        let install = driftless_store::Install {
            id: id.clone(),
            license_id: license.id.clone(),
            customer: license.customer.clone(),
            app: license.app.clone(),
            channel: license.channel.clone(),
            public_key: "ab".repeat(32),
            hostname: format!("host-{id}"),
            platform: "linux/amd64".into(),
            revoked: false,
            created_at,
            uninstalled_at: None,
        };
        store.create_install(&install).await.unwrap();
        registered.push((created_at, id));
    }
    registered
}

/// Every page of `filter`, `limit` at a time, as (created_at, id).
async fn walk<S: Store>(store: &S, filter: &InstallFilter, limit: u32) -> Vec<(i64, String)> {
    let mut seen = Vec::new();
    let mut cursor: Option<InstallCursor> = None;
    loop {
        let page = store
            .list_installs_page(filter, cursor.as_ref(), limit)
            .await
            .unwrap();
        assert!(
            page.items.len() <= limit.max(1) as usize,
            "a page holds at most the limit"
        );
        seen.extend(
            page.items
                .iter()
                .map(|s| (s.install.created_at, s.install.id.clone())),
        );
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.items.len(),
                    limit.max(1) as usize,
                    "only the last page is short"
                );
                cursor = Some(next);
            }
            None => return seen,
        }
    }
}

/// Paging visits every install exactly once, in registration order then id, for the
/// whole fleet and for one app; uninstalled installs follow the `show` filter.
pub async fn install_pages_visit_every_install_once_in_order<S: Store>(store: Arc<S>) {
    let acme = seed_license(&*store, "acme").await;
    let other = seed_license(&*store, "other").await;
    let mut acme_installs = seed_fleet(&*store, &acme, FLEET).await;
    let mut other_installs = seed_fleet(&*store, &other, 40).await;
    acme_installs.sort();
    other_installs.sort();
    let mut everything = [acme_installs.clone(), other_installs.clone()].concat();
    everything.sort();

    let all = |app: Option<&str>| InstallFilter {
        app: app.map(Into::into),
        show: InstallShow::All,
    };
    assert_eq!(walk(&*store, &all(Some("acme")), 97).await, acme_installs);
    assert_eq!(walk(&*store, &all(None), 250).await, everything);
    assert_eq!(walk(&*store, &all(Some("other")), 40).await, other_installs);
    assert!(walk(&*store, &all(Some("ghost")), 10).await.is_empty());

    // Every tenth install of acme is uninstalled.
    let gone: Vec<_> = acme_installs.iter().step_by(10).cloned().collect();
    for (_, id) in &gone {
        assert!(store.uninstall_install(id, NOW + 99_999).await.unwrap());
    }
    let in_use: Vec<_> = acme_installs
        .iter()
        .filter(|i| !gone.contains(i))
        .cloned()
        .collect();
    let showing = |show| InstallFilter {
        app: Some("acme".into()),
        show,
    };
    assert_eq!(
        walk(&*store, &showing(InstallShow::Active), 64).await,
        in_use
    );
    assert_eq!(
        walk(&*store, &showing(InstallShow::Uninstalled), 64).await,
        gone
    );
    assert_eq!(
        walk(&*store, &showing(InstallShow::All), 1000).await,
        acme_installs
    );
}

/// A page carries the channel's version and the last report, like the full list did;
/// a limit of 0 still returns one install.
pub async fn install_pages_carry_desired_version_and_report<S: Store>(store: Arc<S>) {
    let license = seed_license(&*store, "acme").await;
    crate::seed_releases(&*store, "acme", &["1.0.0"]).await;
    store
        .set_channel_release("acme", "stable", "1.0.0", NOW)
        .await
        .unwrap();
    seed_fleet(&*store, &license, 3).await;
    let reported = report(NOW + 5, Some("1.0.0"));
    store
        .record_checkin("acme-00002", &reported, None)
        .await
        .unwrap();
    let filter = InstallFilter::default();
    let page = store.list_installs_page(&filter, None, 0).await.unwrap();
    assert_eq!(page.items.len(), 1, "a limit of 0 is read as 1");
    let first = &page.items[0];
    // All three registered in the same second: the id orders them.
    assert_eq!(first.install.id, "acme-00001");
    assert_eq!(first.desired_version.as_deref(), Some("1.0.0"));
    assert_eq!(first.last_report, None);
    let rest = store
        .list_installs_page(&filter, page.next.as_ref(), 10)
        .await
        .unwrap();
    assert_eq!(rest.next, None);
    let ids: Vec<_> = rest.items.iter().map(|s| s.install.id.as_str()).collect();
    assert_eq!(ids, ["acme-00002", "acme-00003"]);
    assert_eq!(rest.items[0].last_report.as_ref(), Some(&reported));
}

fn failed(at: i64, version: &str, code: &str, detail: &str) -> CheckinReport {
    CheckinReport {
        status: "failed:health".into(),
        target_version: Some("2.0.0".into()),
        reason: Some(format!("{{\"code\":\"{code}\",\"detail\":\"{detail}\"}}")),
        ..report(at, Some(version))
    }
}

fn count(
    app: &str,
    version: Option<&str>,
    status: &str,
    reason: Option<&str>,
    installs: u64,
) -> FleetCount {
    FleetCount {
        app: app.into(),
        channel: "stable".into(),
        version: version.map(Into::into),
        status: status.into(),
        reason: reason.map(Into::into),
        installs,
    }
}

/// The summary counts installs per app, channel, version, status and reason code (one
/// line for reasons that differ only in detail), `new` for installs that never checked
/// in and `uninstalled` for uninstalled ones; filtered by app when asked.
pub async fn fleet_summary_counts_versions_statuses_and_reasons<S: Store>(store: Arc<S>) {
    let acme = seed_license(&*store, "acme").await;
    let other = seed_license(&*store, "other").await;
    let ids: Vec<String> = seed_fleet(&*store, &acme, 20)
        .await
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    seed_fleet(&*store, &other, 3).await;
    // acme: 8 running 1.0.0, 5 failing on 1.0.0 (two details, one code), 1 failing
    // with another code, 2 uninstalled (one had reported), 4 never checked in.
    for id in &ids[0..8] {
        store
            .record_checkin(id, &report(NOW, Some("1.0.0")), None)
            .await
            .unwrap();
    }
    for (n, id) in ids[8..13].iter().enumerate() {
        let detail = format!("web exited {n}");
        let r = failed(NOW, "1.0.0", "health_failed", &detail);
        store.record_checkin(id, &r, None).await.unwrap();
    }
    let r = failed(NOW, "1.0.0", "disk_full", "no space");
    store.record_checkin(&ids[13], &r, None).await.unwrap();
    store
        .record_checkin(&ids[14], &report(NOW, Some("1.0.0")), None)
        .await
        .unwrap();
    store.uninstall_install(&ids[14], NOW + 1).await.unwrap();
    store.uninstall_install(&ids[15], NOW + 1).await.unwrap();

    let acme_counts = vec![
        count("acme", None, "new", None, 4),
        count("acme", None, "uninstalled", None, 1),
        count("acme", Some("1.0.0"), "failed:health", Some("disk_full"), 1),
        count(
            "acme",
            Some("1.0.0"),
            "failed:health",
            Some("health_failed"),
            5,
        ),
        count("acme", Some("1.0.0"), "running", None, 8),
        count("acme", Some("1.0.0"), "uninstalled", None, 1),
    ];
    let summary = store.fleet_summary(Some("acme")).await.unwrap();
    assert_eq!(summary.total, 20);
    assert_eq!(sorted(summary.counts), sorted(acme_counts.clone()));

    let summary = store.fleet_summary(None).await.unwrap();
    assert_eq!(summary.total, 23);
    let mut expected = acme_counts;
    expected.push(count("other", None, "new", None, 3));
    assert_eq!(sorted(summary.counts), sorted(expected));

    let empty = store.fleet_summary(Some("ghost")).await.unwrap();
    assert_eq!((empty.total, empty.counts.len()), (0, 0));
}

/// Stale installs are those that checked in once and not since the cut-off (a batched
/// heartbeat counts as seen), per app and channel; installs that never checked in,
/// revoked and uninstalled ones are not stale.
pub async fn stale_installs_are_the_ones_seen_once_and_not_since<S: Store>(store: Arc<S>) {
    let acme = seed_license(&*store, "acme").await;
    let other = seed_license(&*store, "other").await;
    let acme_ids: Vec<String> = seed_fleet(&*store, &acme, 6)
        .await
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let other_ids: Vec<String> = seed_fleet(&*store, &other, 3)
        .await
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let old = report(NOW, Some("1.0.0"));
    let fresh = report(NOW + 100, Some("1.0.0"));
    for id in acme_ids[0..2]
        .iter()
        .chain([&acme_ids[4]])
        .chain(&other_ids)
    {
        store.record_checkin(id, &old, None).await.unwrap();
    }
    for id in &acme_ids[2..4] {
        store.record_checkin(id, &fresh, None).await.unwrap();
    }
    let beat = Heartbeat {
        install_id: acme_ids[1].clone(),
        at: NOW + 200,
        signed_at_ms: (NOW + 200) * 1000,
    };
    store.record_heartbeats(&[beat]).await.unwrap();
    store.revoke_install(&acme_ids[4], NOW + 1).await.unwrap();
    store
        .uninstall_install(&other_ids[0], NOW + 1)
        .await
        .unwrap();

    let stale = store.stale_installs(NOW + 50).await.unwrap();
    let expected = vec![stale_count("acme", 1), stale_count("other", 2)];
    assert_eq!(stale, expected);
    // A cut-off at the oldest check-in: nothing was seen before it.
    assert_eq!(store.stale_installs(NOW).await.unwrap(), vec![]);
}

fn stale_count(app: &str, installs: u64) -> StaleCount {
    StaleCount {
        app: app.into(),
        channel: "stable".into(),
        installs,
    }
}

/// Counts keyed by what they count, so the check does not depend on line order.
fn sorted(counts: Vec<FleetCount>) -> BTreeMap<String, u64> {
    counts
        .into_iter()
        .map(|c| {
            let key = format!(
                "{}/{} {:?} {} {:?}",
                c.app, c.channel, c.version, c.status, c.reason
            );
            (key, c.installs)
        })
        .collect()
}

/// Audit pages walk the log newest first, each entry once, the last page without a
/// cursor; the entries are the ones `list_audit` returns.
pub async fn audit_pages_walk_the_log_newest_first<S: Store>(store: Arc<S>) {
    let empty = store.list_audit_page(None, 10).await.unwrap();
    assert!(empty.items.is_empty() && empty.next.is_none());
    for n in 1..=25 {
        store.append_audit(&audit_event(n)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store.list_audit_page(before, 7).await.unwrap();
        assert!(page.items.len() <= 7);
        seen.extend(page.items);
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let seqs: Vec<u64> = seen.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=25).rev().collect::<Vec<u64>>());
    assert_eq!(seen, store.list_audit(100).await.unwrap());
    let below_three = store.list_audit_page(Some(3), 10).await.unwrap();
    let seqs: Vec<u64> = below_three.items.iter().map(|e| e.seq).collect();
    assert_eq!((seqs, below_three.next), (vec![2, 1], None));
}
