//! `cargo bench -p driftless-store-postgres --bench row_size` (with
//! `DRIFTLESS_TEST_POSTGRES_URL` set): bytes of database per install on PostgreSQL,
//! indexes included, for the per-install size target (1 KB: a million installs in
//! under 1 GB). Each install has a report, a compact assignment, a session and its
//! registration's audit entry; the feed entries its session made are pruned. Printed
//! per table and index after VACUUM FULL (the live rows), without and with sessions;
//! never asserted here (the `row_size` test holds them to their budgets).

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/support/row_size.rs"]
mod row_size;

const INSTALLS: i64 = 20_000;

#[tokio::main]
async fn main() {
    for sessions in [false, true] {
        let (before, after) = row_size::grown_by(INSTALLS, sessions).await;
        let (total, report) = row_size::per_install(&before, &after, INSTALLS);
        println!("{INSTALLS} installs, sessions {sessions}:\n{report}  total: {total} B/install");
    }
}
