//! Bulk import of installs (the load generator's seeding): the rows registration and a
//! first check-in write, and registration's audit entries chained onto the log, many
//! rows per statement and one transaction per call.

use driftless_store::assignment_codec;
use driftless_store::audit_actor::stored_actor;
use driftless_store::{ImportedInstall, StoreError, StoreResult};
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use std::collections::BTreeSet;

use crate::audit::{entry_hash, GENESIS_HASH};
use crate::error::{backend, is_unique_violation, opt_to_db, to_db};

/// The install columns an import writes, in bind order.
const INSTALL_COLUMNS: &[&str] = &[
    "id",
    "license_id",
    "customer",
    "app",
    "channel",
    "public_key",
    "hostname",
    "platform",
    "revoked",
    "created_at",
    "uninstalled_at",
    "report_at",
    "report_status",
    "report_version",
    "report_release_counter",
    "report_cli_version",
    "report_free_disk_bytes",
    "report_target_version",
    "report_reason",
    "report_policy",
    "report_waiting",
    "assignment_sequence",
    "assignment_release_digest",
    "assignment_expires",
    "assignment_etag",
    "assignment_envelope",
    "assignment_compact",
    "newest_request_ms",
];

/// The audit columns an import writes, in bind order.
const AUDIT_COLUMNS: &[&str] = &[
    "seq",
    "at",
    "actor",
    "action",
    "subject",
    "detail",
    "hash",
    "request_id",
];

/// Rows per INSERT: well under SQLite's limit of 32766 bound parameters.
const ROWS_PER_STATEMENT: usize = 64;

/// `INSERT INTO table (columns) VALUES (?, …), …` for `rows` rows.
fn insert_sql(table: &str, columns: &[&str], rows: usize) -> String {
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    format!(
        "INSERT INTO {table} ({}) VALUES {}",
        columns.join(", "),
        vec![row; rows].join(", ")
    )
}

pub(crate) async fn import_installs(
    pool: &SqlitePool,
    installs: &[ImportedInstall],
) -> StoreResult<()> {
    if installs.is_empty() {
        return Ok(());
    }
    // IMMEDIATE: the audit head read below cannot move before the commit.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
    check_parents(&mut tx, installs).await?;
    for chunk in installs.chunks(ROWS_PER_STATEMENT) {
        if let Err(e) = insert_installs(&mut tx, chunk).await {
            return Err(if is_unique_violation(&e) {
                StoreError::Conflict {
                    what: taken_id(&mut tx, chunk).await,
                }
            } else {
                backend(e)
            });
        }
    }
    append_registrations(&mut tx, installs).await?;
    tx.commit().await.map_err(backend)
}

/// `Missing` naming the first license or channel of the batch that does not exist.
async fn check_parents(
    conn: &mut SqliteConnection,
    installs: &[ImportedInstall],
) -> StoreResult<()> {
    let licenses: BTreeSet<&str> = installs
        .iter()
        .map(|i| i.install.license_id.as_str())
        .collect();
    for license in licenses {
        let found: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM licenses WHERE id = ?1")
            .bind(license)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
        if found.is_none() {
            return Err(StoreError::Missing {
                what: format!("license `{license}`"),
            });
        }
    }
    let channels: BTreeSet<(&str, &str)> = installs
        .iter()
        .map(|i| (i.install.app.as_str(), i.install.channel.as_str()))
        .collect();
    for (app, channel) in channels {
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM channels WHERE app = ?1 AND name = ?2")
                .bind(app)
                .bind(channel)
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
        if found.is_none() {
            return Err(StoreError::Missing {
                what: format!("channel `{app}/{channel}`"),
            });
        }
    }
    Ok(())
}

/// Which install of `chunk` collided, for the `Conflict` message.
async fn taken_id(conn: &mut SqliteConnection, chunk: &[ImportedInstall]) -> String {
    let mut seen = BTreeSet::new();
    for imported in chunk {
        let id = imported.install.id.as_str();
        if !seen.insert(id) {
            return format!("install `{id}` (twice in the import)");
        }
        let found: Result<Option<(i64,)>, _> =
            sqlx::query_as("SELECT 1 FROM installs WHERE id = ?1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await;
        if matches!(found, Ok(Some(_))) {
            return format!("install `{id}`");
        }
    }
    "an install of the import".into()
}

async fn insert_installs(
    conn: &mut SqliteConnection,
    chunk: &[ImportedInstall],
) -> Result<(), sqlx::Error> {
    let sql = insert_sql("installs", INSTALL_COLUMNS, chunk.len());
    let mut query = sqlx::query(&sql);
    for imported in chunk {
        query = bind_install(query, imported).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    }
    query.execute(&mut *conn).await.map(|_| ())
}

type SqliteQuery<'q> = Query<'q, Sqlite, SqliteArguments<'q>>;

fn bind_install<'q>(
    query: SqliteQuery<'q>,
    imported: &'q ImportedInstall,
) -> StoreResult<SqliteQuery<'q>> {
    let i = &imported.install;
    let r = imported.report.as_ref();
    let a = imported.assignment.as_ref();
    let counter = opt_to_db(
        r.and_then(|r| r.release_counter),
        "reported release counter",
    )?;
    let free = opt_to_db(
        r.and_then(|r| r.free_disk_bytes),
        "reported free disk bytes",
    )?;
    let sequence = a
        .map(|a| to_db(a.sequence, "assignment sequence"))
        .transpose()?;
    // As a check-in stores it: compact when the envelope rebuilds exactly.
    let compact = a.and_then(|a| assignment_codec::compact_stored(&i.id, a));
    let whole = a.filter(|_| compact.is_none());
    Ok(query
        .bind(&i.id)
        .bind(&i.license_id)
        .bind(&i.customer)
        .bind(&i.app)
        .bind(&i.channel)
        .bind(&i.public_key)
        .bind(&i.hostname)
        .bind(&i.platform)
        .bind(i.revoked)
        .bind(i.created_at)
        .bind(i.uninstalled_at)
        .bind(r.map(|r| r.at))
        .bind(r.map(|r| r.status.as_str()))
        .bind(r.and_then(|r| r.version.as_deref()))
        .bind(counter)
        .bind(r.map(|r| r.cli_version.as_str()))
        .bind(free)
        .bind(r.and_then(|r| r.target_version.as_deref()))
        .bind(r.and_then(|r| r.reason.as_deref()))
        .bind(r.and_then(|r| r.policy.as_deref()))
        .bind(r.and_then(|r| r.waiting.as_deref()))
        .bind(sequence)
        .bind(a.map(|a| a.release_digest.as_str()))
        .bind(a.map(|a| a.expires))
        .bind(whole.map(|a| a.etag.as_str()))
        .bind(whole.map(|a| a.envelope.as_str()))
        .bind(compact)
        .bind(imported.newest_request_ms))
}

/// One chained audit entry, as stored (migration 0010: the hash as 32 bytes).
struct ChainedEntry {
    seq: i64,
    hash: Vec<u8>,
}

/// Appends each install's registration entry after the log's head, in order.
async fn append_registrations(
    conn: &mut SqliteConnection,
    installs: &[ImportedInstall],
) -> StoreResult<()> {
    let head: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
    let (mut seq, mut prev) = match head {
        Some((seq, hash)) => (seq, hex::encode(hash)),
        None => (0, GENESIS_HASH.to_owned()),
    };
    let mut chained = Vec::with_capacity(installs.len());
    for imported in installs {
        seq = seq
            .checked_add(1)
            .ok_or_else(|| StoreError::Backend("audit log sequence is exhausted".into()))?;
        prev = entry_hash(&prev, &imported.registered)?;
        let hash = hex::decode(&prev)
            .map_err(|e| StoreError::Backend(format!("audit hash is not hex: {e}")))?;
        chained.push(ChainedEntry { seq, hash });
    }
    for (entries, events) in chained
        .chunks(ROWS_PER_STATEMENT)
        .zip(installs.chunks(ROWS_PER_STATEMENT))
    {
        let sql = insert_sql("audit_log", AUDIT_COLUMNS, entries.len());
        let mut query = sqlx::query(&sql);
        for (entry, imported) in entries.iter().zip(events) {
            let e = &imported.registered;
            query = query
                .bind(entry.seq)
                .bind(e.at)
                .bind(stored_actor(&e.actor, &e.subject)?)
                .bind(&e.action)
                .bind(&e.subject)
                .bind(&e.detail)
                .bind(&entry.hash)
                .bind(&e.request_id);
        }
        query.execute(&mut *conn).await.map_err(backend)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use driftless_store::{AuditEvent, Install, License, Store, StoredAssignment};
    use driftless_wire::release::Assignment;
    use driftless_wire::{Digest, Envelope, ASSIGNMENT_PAYLOAD_TYPE};

    /// An imported install's assignment is stored as a check-in stores it (compactly),
    /// and read back byte for byte with the same ETag; the audit entry chains.
    #[tokio::test]
    async fn an_imported_assignment_is_compacted_as_a_check_in_would() {
        let store = crate::SqliteStore::open("sqlite::memory:").await.unwrap();
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
        let digest = format!("sha256:{}", "cd".repeat(32));
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
            allow_downgrade: false,
            entitlements: Default::default(),
        };
        let env = Envelope::sign(
            ASSIGNMENT_PAYLOAD_TYPE,
            &serde_json::to_vec(&a).unwrap(),
            &[&driftless_wire::keys::generate_signing_key()],
        );
        let envelope = serde_json::to_string(&env).unwrap();
        let assignment = StoredAssignment {
            sequence: 4,
            release_digest: digest,
            expires: 20,
            etag: Digest::of(envelope.as_bytes()).hex().to_string(),
            envelope,
        };
        let registered = AuditEvent {
            at: 1,
            actor: "install:i-1".into(),
            action: "install.register".into(),
            subject: "i-1".into(),
            detail: "{}".into(),
            request_id: String::new(),
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
            registered: registered.clone(),
            report: None,
            assignment: Some(assignment.clone()),
            newest_request_ms: None,
        };
        store.import_installs(&[imported]).await.unwrap();
        let view = store.checkin_view("i-1").await.unwrap().unwrap();
        assert_eq!(view.assignment, Some(assignment));
        let (compact, whole): (Option<Vec<u8>>, Option<String>) = sqlx::query_as(
            "SELECT assignment_compact, assignment_envelope FROM installs WHERE id = 'i-1'",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        assert!(compact.is_some() && whole.is_none());
        let log = store.list_audit(1).await.unwrap();
        assert_eq!(log[0].hash, entry_hash(GENESIS_HASH, &registered).unwrap());
    }

    #[test]
    fn insert_sql_has_one_placeholder_per_column_and_row() {
        let sql = insert_sql("t", &["a", "b"], 3);
        assert_eq!(sql, "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)");
    }

    #[test]
    fn a_full_statement_stays_under_sqlites_parameter_limit() {
        assert!(INSTALL_COLUMNS.len() * ROWS_PER_STATEMENT < 32_766);
    }
}
