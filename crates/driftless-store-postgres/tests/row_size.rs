//! What one install takes on PostgreSQL, measured over a fleet with ids, license and
//! host names as long as the server's: under the 1 KB target (a million installs in
//! 1 GB) as registered and assigned, and not yet with a check-in session besides,
//! whose budget keeps what migration 0011 won (from about 1.2 KB) from creeping back. `cargo bench --bench row_size`
//! prints the same over more installs.

#![allow(clippy::unwrap_used)]

mod support;

use support::row_size;

const INSTALLS: i64 = 2000;

/// Registered and given a first check-in and assignment (what `driftless-bench seed`
/// makes, with longer names): under 1 KB, its registration's audit entry included;
/// with a check-in session besides (its id, key and expiry on the install's row), about
/// 70 bytes more, under 1.125 KB. One test, the two measures one after the other: a
/// transaction open elsewhere in the cluster while one measures can keep the other's
/// deleted rows from being reclaimed.
#[tokio::test]
async fn an_install_with_its_assignment_and_audit_entry_takes_under_1_kb_1_125_with_a_session() {
    for (sessions, budget) in [(false, 1024), (true, 1152)] {
        let (before, after) = row_size::grown_by(INSTALLS, sessions).await;
        let (total, report) = row_size::per_install(&before, &after, INSTALLS);
        eprintln!("sessions {sessions}:\n{report}  total: {total} B/install");
        assert!(total < budget, "{total} B per install:\n{report}");
    }
}
