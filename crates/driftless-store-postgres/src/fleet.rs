//! The customer hosts: installs, their check-ins and the fleet view.
//!
//! Check-ins are the hot path: [`checkin_view`] is one SELECT of indexed lookups and
//! [`record_checkin`] one UPDATE of the install's own row.

use driftless_store::assignment_codec::{self, RowFacts};
use driftless_store::{
    CheckinReport, CheckinView, Install, InstallSummary, LicenseTerms, ReleaseRef, StoreError,
    StoreResult, StoredAssignment, StoredSession,
};
use sqlx::{PgConnection, PgPool};

use crate::catalog::{channel_exists, exists, release_state};
use crate::error::{backend, conflict_or_backend, from_db, opt_from_db, opt_to_db, to_db};
use crate::rollouts::{RolloutColumns, ACTIVE_STATES, ROLLOUT_COLUMNS};

/// Registration counts the license's seats, so it lives with the licenses; named here
/// as well, where the SQLite backend has it (the audited changes call it here).
pub(crate) use crate::licensing::register_install;

/// The install's own columns, from `installs i`.
pub(crate) const INSTALL_COLUMNS: &str = "i.id, i.license_id, i.customer, i.app, i.channel, \
     driftless_unpack(i.public_key) AS public_key, \
     i.hostname, i.platform, i.revoked, i.created_at, i.uninstalled_at";
/// The last report's columns, from `installs i`.
pub(crate) const REPORT_COLUMNS: &str = "i.report_at, i.report_status, i.report_version, \
     i.report_release_counter, i.report_cli_version, i.report_free_disk_bytes, \
     i.report_target_version, i.report_reason, i.report_policy, i.report_waiting";
/// The last assignment's columns, from `installs i`.
const ASSIGNMENT_COLUMNS: &str = "i.assignment_sequence, \
     driftless_unpack(i.assignment_release_digest) AS assignment_release_digest, \
     i.assignment_expires, i.assignment_etag, i.assignment_envelope, i.assignment_compact";

#[derive(sqlx::FromRow)]
struct InstallRow {
    id: String,
    license_id: String,
    customer: String,
    app: String,
    channel: String,
    public_key: String,
    hostname: String,
    platform: String,
    revoked: bool,
    created_at: i64,
    uninstalled_at: Option<i64>,
}

impl From<InstallRow> for Install {
    fn from(row: InstallRow) -> Self {
        Install {
            id: row.id,
            license_id: row.license_id,
            customer: row.customer,
            app: row.app,
            channel: row.channel,
            public_key: row.public_key,
            hostname: row.hostname,
            platform: row.platform,
            revoked: row.revoked,
            created_at: row.created_at,
            uninstalled_at: row.uninstalled_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ReportColumns {
    report_at: Option<i64>,
    report_status: Option<String>,
    report_version: Option<String>,
    report_release_counter: Option<i64>,
    report_cli_version: Option<String>,
    report_free_disk_bytes: Option<i64>,
    report_target_version: Option<String>,
    report_reason: Option<String>,
    report_policy: Option<String>,
    report_waiting: Option<String>,
}

impl ReportColumns {
    /// The last report, or `None` if the install never checked in.
    fn into_report(self, install_id: &str) -> StoreResult<Option<CheckinReport>> {
        let Some(at) = self.report_at else {
            return Ok(None);
        };
        let (Some(status), Some(cli_version)) = (self.report_status, self.report_cli_version)
        else {
            return Err(corrupt("report", install_id));
        };
        Ok(Some(CheckinReport {
            at,
            status,
            version: self.report_version,
            release_counter: opt_from_db(self.report_release_counter, "reported release counter")?,
            cli_version,
            free_disk_bytes: opt_from_db(self.report_free_disk_bytes, "reported free disk bytes")?,
            target_version: self.report_target_version,
            reason: self.report_reason,
            policy: self.report_policy,
            waiting: self.report_waiting,
        }))
    }
}

#[derive(sqlx::FromRow)]
struct AssignmentColumns {
    assignment_sequence: Option<i64>,
    assignment_release_digest: Option<String>,
    assignment_expires: Option<i64>,
    assignment_etag: Option<String>,
    assignment_envelope: Option<String>,
    assignment_compact: Option<Vec<u8>>,
}

impl AssignmentColumns {
    /// The last assignment, or `None` if the install was never given one.
    fn into_assignment(self, install_id: &str) -> StoreResult<Option<StoredAssignment>> {
        let Some(sequence) = self.assignment_sequence else {
            return Ok(None);
        };
        let (Some(release_digest), Some(expires)) =
            (self.assignment_release_digest, self.assignment_expires)
        else {
            return Err(corrupt("assignment", install_id));
        };
        let sequence = from_db(sequence, "assignment sequence")?;
        let (envelope, etag) = match (
            self.assignment_compact,
            self.assignment_envelope,
            self.assignment_etag,
        ) {
            (Some(blob), _, _) => {
                let row = RowFacts {
                    install_id,
                    sequence,
                    release_digest: &release_digest,
                    expires,
                };
                assignment_codec::expand_with_etag(&blob, &row)?
            }
            (None, Some(envelope), Some(etag)) => (envelope, etag),
            _ => return Err(corrupt("assignment", install_id)),
        };
        Ok(Some(StoredAssignment {
            sequence,
            release_digest,
            expires,
            etag,
            envelope,
        }))
    }
}

fn corrupt(what: &str, install_id: &str) -> StoreError {
    StoreError::Backend(format!(
        "install `{install_id}` has a partially stored {what}"
    ))
}

/// Inserts an install whose license and channel exist.
const INSERT_INSTALL: &str = "INSERT INTO installs (id, license_id, customer, app, channel,
            public_key, hostname, platform, revoked, created_at)
     SELECT $1, $2, $3, $4, $5, driftless_pack($6), $7, $8, $9, $10
     WHERE EXISTS (SELECT 1 FROM licenses WHERE id = $2)
       AND EXISTS (SELECT 1 FROM channels WHERE app = $4 AND name = $5)";

/// Inserts `install` through `executor` (a transaction that locked its license, for
/// a registration); `Missing` names its channel when nothing was inserted.
pub(crate) async fn insert_install<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    install: &Install,
) -> StoreResult<()> {
    let inserted = insert_rows(executor, install).await?;
    if inserted > 0 {
        return Ok(());
    }
    Err(StoreError::Missing {
        what: format!("channel `{}/{}`", install.app, install.channel),
    })
}

async fn insert_rows<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    install: &Install,
) -> StoreResult<u64> {
    Ok(sqlx::query(INSERT_INSTALL)
        .bind(&install.id)
        .bind(&install.license_id)
        .bind(&install.customer)
        .bind(&install.app)
        .bind(&install.channel)
        .bind(&install.public_key)
        .bind(&install.hostname)
        .bind(&install.platform)
        .bind(install.revoked)
        .bind(install.created_at)
        .execute(executor)
        .await
        .map_err(|e| conflict_or_backend(e, || format!("install `{}`", install.id)))?
        .rows_affected())
}

pub(crate) async fn create_install(conn: &mut PgConnection, install: &Install) -> StoreResult<()> {
    // One statement: the parents are checked by the same statement that inserts.
    if insert_rows(&mut *conn, install).await? > 0 {
        return Ok(());
    }
    let what = if !exists(
        &mut *conn,
        "SELECT 1 FROM licenses WHERE id = $1",
        &[&install.license_id],
    )
    .await?
    {
        format!("license `{}`", install.license_id)
    } else if !channel_exists(&mut *conn, &install.app, &install.channel).await? {
        format!("channel `{}/{}`", install.app, install.channel)
    } else {
        return Err(StoreError::Backend(format!(
            "install `{}` was not inserted although its license and channel exist",
            install.id
        )));
    };
    Err(StoreError::Missing { what })
}

pub(crate) async fn get_install<'e>(
    ex: impl sqlx::PgExecutor<'e>,
    id: &str,
) -> StoreResult<Option<Install>> {
    let sql = format!("SELECT {INSTALL_COLUMNS} FROM installs i WHERE i.id = $1");
    let row: Option<InstallRow> = sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(ex)
        .await
        .map_err(backend)?;
    Ok(row.map(Install::from))
}

pub(crate) async fn revoke_install(
    conn: &mut PgConnection,
    id: &str,
    now: i64,
) -> StoreResult<bool> {
    let found = sqlx::query(
        "UPDATE installs SET revoked = TRUE, revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(backend)?
    .rows_affected();
    Ok(found > 0)
}

/// Marks the install uninstalled and revoked; the first time's instants are kept.
const UNINSTALL_INSTALL: &str = "UPDATE installs SET revoked = TRUE,
        revoked_at = COALESCE(revoked_at, $2), uninstalled_at = COALESCE(uninstalled_at, $2)
     WHERE id = $1";

pub(crate) async fn uninstall_install(
    conn: &mut PgConnection,
    id: &str,
    now: i64,
) -> StoreResult<bool> {
    let found = sqlx::query(UNINSTALL_INSTALL)
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(backend)?
        .rows_affected();
    Ok(found > 0)
}

/// A release's columns as the check-in reads them; all `None` when a LEFT JOIN found none.
#[derive(sqlx::FromRow)]
struct ReleaseRefColumns {
    version: Option<String>,
    release_counter: Option<i64>,
    digest: Option<String>,
    state: Option<String>,
}

impl ReleaseRefColumns {
    /// The release, or `None` if there was none.
    fn into_release_ref(self, install_id: &str) -> StoreResult<Option<ReleaseRef>> {
        let Some(version) = self.version else {
            return Ok(None);
        };
        let (Some(counter), Some(digest), Some(state)) =
            (self.release_counter, self.digest, self.state)
        else {
            return Err(corrupt("release", install_id));
        };
        Ok(Some(ReleaseRef {
            version,
            release_counter: from_db(counter, "release counter")?,
            digest,
            state: release_state(&state)?,
        }))
    }
}

#[derive(sqlx::FromRow)]
struct CheckinRow {
    #[sqlx(flatten)]
    install: InstallRow,
    license_revoked: bool,
    license_expires_at: Option<i64>,
    license_grace_s: i64,
    license_channels: String,
    license_entitlements: String,
    channel_version: Option<String>,
    channel_counter: Option<i64>,
    channel_digest: Option<String>,
    channel_state: Option<String>,
    #[sqlx(flatten)]
    rollout: RolloutColumns,
    rollout_release_version: Option<String>,
    rollout_release_counter: Option<i64>,
    rollout_release_digest: Option<String>,
    rollout_release_state: Option<String>,
    #[sqlx(flatten)]
    assignment: AssignmentColumns,
    #[sqlx(flatten)]
    report: ReportColumns,
    newest_request_ms: Option<i64>,
    session_id: Option<String>,
    session_key: Option<Vec<u8>>,
    session_expires_at: Option<i64>,
}

/// The check-in read: every join is a primary-key or unique-index lookup, the active
/// rollout's through the partial index (the query-plan test below checks it).
fn checkin_sql() -> String {
    format!(
        "SELECT {INSTALL_COLUMNS}, l.revoked AS license_revoked,
                l.expires_at AS license_expires_at, l.grace_s AS license_grace_s,
                l.channels AS license_channels, l.entitlements AS license_entitlements,
                r.version AS channel_version, r.release_counter AS channel_counter,
                r.digest AS channel_digest, r.state AS channel_state,
                {ROLLOUT_COLUMNS},
                rr.version AS rollout_release_version,
                rr.release_counter AS rollout_release_counter,
                rr.digest AS rollout_release_digest, rr.state AS rollout_release_state,
                {ASSIGNMENT_COLUMNS}, {REPORT_COLUMNS}, i.newest_request_ms,
                i.session_id, i.session_key, i.session_expires_at
         FROM installs i
         JOIN licenses l ON l.id = i.license_id
         LEFT JOIN channels c ON c.app = i.app AND c.name = i.channel
         LEFT JOIN releases r ON r.app = c.app AND r.version = c.version
         LEFT JOIN rollouts ro ON ro.app = i.app AND ro.channel = i.channel
                              AND ro.state IN {ACTIVE_STATES}
         LEFT JOIN releases rr ON rr.app = ro.app AND rr.version = ro.version
         WHERE i.id = $1"
    )
}

pub(crate) async fn checkin_view(
    pool: &PgPool,
    install_id: &str,
) -> StoreResult<Option<CheckinView>> {
    let row: Option<CheckinRow> = sqlx::query_as(&checkin_sql())
        .bind(install_id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    let Some(row) = row else { return Ok(None) };
    let channel_release = ReleaseRefColumns {
        version: row.channel_version,
        release_counter: row.channel_counter,
        digest: row.channel_digest,
        state: row.channel_state,
    }
    .into_release_ref(install_id)?;
    let rollout_release = ReleaseRefColumns {
        version: row.rollout_release_version,
        release_counter: row.rollout_release_counter,
        digest: row.rollout_release_digest,
        state: row.rollout_release_state,
    }
    .into_release_ref(install_id)?;
    let rollout = match (row.rollout.into_rollout()?, rollout_release) {
        (Some(rollout), Some(release)) => Some((rollout, release)),
        (None, None) => None,
        // The foreign key makes this impossible short of a corrupt file.
        _ => return Err(corrupt("rollout", install_id)),
    };
    let license = LicenseTerms::from_columns(
        &row.install.license_id,
        row.license_expires_at,
        row.license_grace_s,
        None,
        &row.license_channels,
        &row.license_entitlements,
    )?
    .for_checkin();
    let session = StoredSession::from_columns(
        install_id,
        row.session_id,
        row.session_key,
        row.session_expires_at,
    )?;
    Ok(Some(CheckinView {
        license,
        assignment: row.assignment.into_assignment(install_id)?,
        install: row.install.into(),
        license_revoked: row.license_revoked,
        channel_release,
        rollout,
        last_report: row.report.into_report(install_id)?,
        newest_request_ms: row.newest_request_ms.unwrap_or(0),
        session,
    }))
}

const RECORD_REPORT: &str = "UPDATE installs SET
        report_at = $2, report_status = $3, report_version = $4,
        report_release_counter = $5, report_cli_version = $6, report_free_disk_bytes = $7,
        report_target_version = $8, report_reason = $9,
        report_policy = $10, report_waiting = $11
     WHERE id = $1";

const RECORD_REPORT_AND_ASSIGNMENT: &str = "UPDATE installs SET
        report_at = $2, report_status = $3, report_version = $4,
        report_release_counter = $5, report_cli_version = $6, report_free_disk_bytes = $7,
        report_target_version = $8, report_reason = $9,
        report_policy = $10, report_waiting = $11,
        assignment_sequence = $12, assignment_release_digest = driftless_pack($13), assignment_expires = $14,
        assignment_etag = $15, assignment_envelope = $16, assignment_compact = $17
     WHERE id = $1";

pub(crate) async fn record_checkin<'e>(
    ex: impl sqlx::PgExecutor<'e>,
    install_id: &str,
    report: &CheckinReport,
    assignment: Option<&StoredAssignment>,
) -> StoreResult<()> {
    let sql = if assignment.is_some() {
        RECORD_REPORT_AND_ASSIGNMENT
    } else {
        RECORD_REPORT
    };
    let mut query = sqlx::query(sql)
        .bind(install_id)
        .bind(report.at)
        .bind(&report.status)
        .bind(&report.version)
        .bind(opt_to_db(
            report.release_counter,
            "reported release counter",
        )?)
        .bind(&report.cli_version)
        .bind(opt_to_db(
            report.free_disk_bytes,
            "reported free disk bytes",
        )?)
        .bind(&report.target_version)
        .bind(&report.reason)
        .bind(&report.policy)
        .bind(&report.waiting);
    if let Some(assignment) = assignment {
        // Compact when the envelope rebuilds exactly; else it is kept whole.
        let compact = assignment_codec::compact_stored(install_id, assignment);
        let (etag, envelope) = match compact {
            Some(_) => (None, None),
            None => (Some(&assignment.etag), Some(&assignment.envelope)),
        };
        query = query
            .bind(to_db(assignment.sequence, "assignment sequence")?)
            .bind(&assignment.release_digest)
            .bind(assignment.expires)
            .bind(etag)
            .bind(envelope)
            .bind(compact);
    }
    let updated = query.execute(ex).await.map_err(backend)?.rows_affected();
    if updated == 0 {
        return Err(StoreError::Missing {
            what: format!("install `{install_id}`"),
        });
    }
    Ok(())
}

pub(crate) async fn move_install(
    conn: &mut PgConnection,
    id: &str,
    channel: &str,
) -> StoreResult<()> {
    // One statement: the channel is checked by the same statement that moves.
    let moved = sqlx::query(
        "UPDATE installs SET channel = $2
         WHERE id = $1 AND EXISTS (SELECT 1 FROM channels WHERE app = installs.app AND name = $2)",
    )
    .bind(id)
    .bind(channel)
    .execute(&mut *conn)
    .await
    .map_err(backend)?
    .rows_affected();
    if moved > 0 {
        return Ok(());
    }
    let what = match get_install(&mut *conn, id).await? {
        None => format!("install `{id}`"),
        Some(install) => format!("channel `{}/{channel}`", install.app),
    };
    Err(StoreError::Missing { what })
}

#[derive(sqlx::FromRow)]
pub(crate) struct SummaryRow {
    #[sqlx(flatten)]
    install: InstallRow,
    desired_version: Option<String>,
    #[sqlx(flatten)]
    report: ReportColumns,
}

pub(crate) async fn list_installs(
    pool: &PgPool,
    app: Option<&str>,
) -> StoreResult<Vec<InstallSummary>> {
    // Two statements rather than `$1 IS NULL OR i.app = $1`, which would defeat the
    // index on app. The order is the fleet pages' (their indexes serve it).
    let filter = if app.is_some() {
        "WHERE i.app = $1"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {INSTALL_COLUMNS}, c.version AS desired_version, {REPORT_COLUMNS}
         FROM installs i
         LEFT JOIN channels c ON c.app = i.app AND c.name = i.channel
         {filter}
         ORDER BY i.created_at, i.id COLLATE \"C\""
    );
    let mut query = sqlx::query_as::<_, SummaryRow>(&sql);
    if let Some(app) = app {
        query = query.bind(app);
    }
    let rows = query.fetch_all(pool).await.map_err(backend)?;
    rows.into_iter().map(SummaryRow::into_summary).collect()
}

/// One install's fleet row (see [`list_installs`]).
pub(crate) async fn install_summary(
    pool: &PgPool,
    id: &str,
) -> StoreResult<Option<InstallSummary>> {
    let sql = format!(
        "SELECT {INSTALL_COLUMNS}, c.version AS desired_version, {REPORT_COLUMNS}
         FROM installs i
         LEFT JOIN channels c ON c.app = i.app AND c.name = i.channel
         WHERE i.id = $1"
    );
    let row = sqlx::query_as::<_, SummaryRow>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    row.map(SummaryRow::into_summary).transpose()
}

impl SummaryRow {
    /// The fleet row this database row holds.
    pub(crate) fn into_summary(self) -> StoreResult<InstallSummary> {
        let last_report = self.report.into_report(&self.install.id)?;
        Ok(InstallSummary {
            install: self.install.into(),
            desired_version: self.desired_version,
            last_report,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::query_plan::{assert_indexed, plan, texts};

    /// A signed assignment for install `i-1` with release `digest`, as JSON text.
    fn signed_assignment(digest: &str) -> String {
        use driftless_wire::release::Assignment;
        use driftless_wire::{Envelope, ASSIGNMENT_PAYLOAD_TYPE};
        let a = Assignment {
            doc_type: "assignment".into(),
            install_id: "i-1".into(),
            app: "acme".into(),
            channel: "stable".into(),
            version: "2.0.0".parse().unwrap(),
            release_digest: digest.parse().unwrap(),
            release_counter: 2,
            sequence: 4,
            issued_at: 10,
            expires: 20,
            allow_downgrade: true,
            entitlements: Default::default(),
        };
        let env = Envelope::sign(
            ASSIGNMENT_PAYLOAD_TYPE,
            &serde_json::to_vec(&a).unwrap(),
            &[&driftless_wire::keys::generate_signing_key()],
        );
        serde_json::to_string(&env).unwrap()
    }

    /// An imported install's assignment is stored as a check-in stores it: compactly,
    /// read back byte for byte with the same ETag.
    #[tokio::test]
    async fn imported_assignments_are_compacted_too() {
        use driftless_store::{AuditEvent, ImportedInstall, License, Store};
        use driftless_wire::Digest;

        let (store, _db) = crate::tests::store().await;
        store.create_app("acme", 1).await.unwrap();
        store.create_channel("acme", "stable", 1).await.unwrap();
        store.create_customer("cust", 1).await.unwrap();
        store
            .create_license(&License {
                id: "lic".into(),
                customer: "cust".into(),
                app: "acme".into(),
                channel: "stable".into(),
                key_hash: "kh".into(),
                revoked: false,
                created_at: 1,
            })
            .await
            .unwrap();
        let digest = format!("sha256:{}", "cd".repeat(32));
        let envelope = signed_assignment(&digest);
        let assignment = StoredAssignment {
            sequence: 4,
            release_digest: digest,
            expires: 20,
            etag: Digest::of(envelope.as_bytes()).hex().to_string(),
            envelope,
        };
        let imported = ImportedInstall {
            install: Install {
                id: "i-1".into(),
                license_id: "lic".into(),
                customer: "cust".into(),
                app: "acme".into(),
                channel: "stable".into(),
                public_key: "pk".into(),
                hostname: "h".into(),
                platform: "p".into(),
                revoked: false,
                created_at: 1,
                uninstalled_at: None,
            },
            registered: AuditEvent {
                at: 1,
                actor: "install:i-1".into(),
                action: "install.register".into(),
                subject: "i-1".into(),
                detail: "{}".into(),
                request_id: String::new(),
            },
            report: None,
            assignment: Some(assignment.clone()),
            newest_request_ms: None,
        };
        store.import_installs(&[imported]).await.unwrap();
        let view = store.checkin_view("i-1").await.unwrap().unwrap();
        assert_eq!(view.assignment, Some(assignment));
        let (compact, whole, etag): (Option<Vec<u8>>, Option<String>, Option<String>) =
            sqlx::query_as(
                "SELECT assignment_compact, assignment_envelope, assignment_etag
                 FROM installs WHERE id = 'i-1'",
            )
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(compact.is_some() && whole.is_none() && etag.is_none());
    }

    /// A real signed assignment is stored compactly and read back byte for byte,
    /// with the same ETag; a document the codec does not rebuild is kept whole.
    #[tokio::test]
    async fn assignments_read_back_exactly_as_written() {
        use driftless_store::{License, Store};
        use driftless_wire::Digest;

        let (store, _db) = crate::tests::store().await;
        store.create_app("acme", 1).await.unwrap();
        store.create_channel("acme", "stable", 1).await.unwrap();
        store.create_customer("cust", 1).await.unwrap();
        let license = License {
            id: "lic".into(),
            customer: "cust".into(),
            app: "acme".into(),
            channel: "stable".into(),
            key_hash: "kh".into(),
            revoked: false,
            created_at: 1,
        };
        store.create_license(&license).await.unwrap();
        store
            .create_install(&Install {
                id: "i-1".into(),
                license_id: "lic".into(),
                customer: "cust".into(),
                app: "acme".into(),
                channel: "stable".into(),
                public_key: "pk".into(),
                hostname: "h".into(),
                platform: "p".into(),
                revoked: false,
                created_at: 1,
                uninstalled_at: None,
            })
            .await
            .unwrap();
        let digest = format!("sha256:{}", "cd".repeat(32));
        let report = CheckinReport {
            at: 5,
            status: "converged".into(),
            version: None,
            release_counter: None,
            cli_version: "0.1.0".into(),
            free_disk_bytes: None,
            target_version: None,
            reason: None,
            policy: None,
            waiting: None,
        };
        let text = signed_assignment(&digest);
        for (envelope, compacted) in [(text, true), ("{\"not\":\"compactable\"}".into(), false)] {
            let stored = StoredAssignment {
                sequence: 4,
                release_digest: digest.clone(),
                expires: 20,
                etag: Digest::of(envelope.as_bytes()).hex().to_string(),
                envelope,
            };
            store
                .record_checkin("i-1", &report, Some(&stored))
                .await
                .unwrap();
            let view = store.checkin_view("i-1").await.unwrap().unwrap();
            assert_eq!(view.assignment.as_ref(), Some(&stored));
            let (compact, whole): (Option<Vec<u8>>, Option<String>) = sqlx::query_as(
                "SELECT assignment_compact, assignment_envelope FROM installs WHERE id = 'i-1'",
            )
            .fetch_one(&store.pool)
            .await
            .unwrap();
            assert_eq!((compact.is_some(), whole.is_none()), (compacted, compacted));
        }
    }

    #[tokio::test]
    async fn checkin_read_is_one_indexed_select() {
        let store = crate::tests::store().await;
        let sql = checkin_sql();
        let steps = plan(&store.0.pool, &sql, texts(1)).await;
        assert_indexed(&steps);
        assert!(
            steps
                .iter()
                .any(|s| s.contains("rollouts_active_by_channel")),
            "the active rollout is found through its partial index: {steps:#?}"
        );
    }

    #[tokio::test]
    async fn revoking_a_license_and_looking_up_a_key_are_indexed() {
        let store = crate::tests::store().await;
        for sql in [
            "UPDATE installs SET revoked = TRUE WHERE license_id = $1",
            "SELECT id FROM licenses WHERE key_hash = $1",
        ] {
            assert_indexed(&plan(&store.0.pool, sql, texts(1)).await);
        }
    }

    /// Every text packs and unpacks to itself; digests and hex keys pack to their bytes.
    #[tokio::test]
    async fn packed_texts_unpack_to_themselves() {
        let (store, _db) = crate::tests::store().await;
        let digest = format!("sha256:{}", "ab".repeat(32));
        let key = "cd".repeat(32);
        let cases = [
            (digest.as_str(), 33),
            (key.as_str(), 33),
            ("ABCD", 5),
            ("abc", 4),
            ("", 1),
            ("sha256:00", 10),
            ("clé", 5),
        ];
        for (text, packed_len) in cases {
            let (len, back): (i32, String) = sqlx::query_as(
                "SELECT length(driftless_pack($1)), driftless_unpack(driftless_pack($1))",
            )
            .bind(text)
            .fetch_one(&store.pool)
            .await
            .unwrap();
            assert_eq!((len, back.as_str()), (packed_len, text));
        }
    }
}
