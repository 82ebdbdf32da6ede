//! Bulk import of installs (the load generator's seeding): the rows registration and a
//! first check-in write, and registration's audit entries chained onto the log, in one
//! transaction per call. Each column travels as one array and `UNNEST` turns the
//! arrays back into rows, so a statement carries thousands of installs with 27
//! parameters.

use std::collections::HashSet;

use driftless_store::assignment_codec;
use driftless_store::{AuditEvent, ImportedInstall, StoreError, StoreResult};
use sqlx::{PgConnection, PgPool};

use crate::audit::append_all_in;
use crate::error::{backend, is_unique_violation, opt_to_db, to_db};

/// Installs per INSERT.
const ROWS_PER_STATEMENT: usize = 5_000;

pub(crate) async fn import_installs(
    pool: &PgPool,
    installs: &[ImportedInstall],
) -> StoreResult<()> {
    if installs.is_empty() {
        return Ok(());
    }
    if let Some(id) = repeated_id(installs) {
        return Err(StoreError::Conflict {
            what: format!("install `{id}` (twice in the import)"),
        });
    }
    let mut tx = pool.begin().await.map_err(backend)?;
    check_parents(&mut tx, installs).await?;
    for chunk in installs.chunks(ROWS_PER_STATEMENT) {
        let columns = Columns::of(chunk)?;
        if let Err(e) = insert_installs(&mut tx, &columns).await {
            if !is_unique_violation(&e) {
                return Err(backend(e));
            }
            // The failed statement aborted the transaction: roll it back, then ask.
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::Conflict {
                what: taken_id(pool, chunk).await,
            });
        }
    }
    // Last, so the chain's lock is held only for the audit rows and the commit.
    let events: Vec<&AuditEvent> = installs.iter().map(|i| &i.registered).collect();
    append_all_in(&mut tx, &events).await?;
    tx.commit().await.map_err(backend)
}

/// The first install id the batch holds twice.
fn repeated_id(installs: &[ImportedInstall]) -> Option<&str> {
    let mut seen = HashSet::with_capacity(installs.len());
    installs
        .iter()
        .map(|i| i.install.id.as_str())
        .find(|id| !seen.insert(*id))
}

/// `Missing` naming the first license or channel of the batch that does not exist.
async fn check_parents(conn: &mut PgConnection, installs: &[ImportedInstall]) -> StoreResult<()> {
    let mut licenses: Vec<&str> = installs
        .iter()
        .map(|i| i.install.license_id.as_str())
        .collect();
    licenses.sort_unstable();
    licenses.dedup();
    let missing: Option<(String,)> = sqlx::query_as(
        "SELECT l.id FROM UNNEST($1::TEXT[]) WITH ORDINALITY AS l (id, n)
         WHERE NOT EXISTS (SELECT 1 FROM licenses WHERE licenses.id = l.id)
         ORDER BY l.n LIMIT 1",
    )
    .bind(&licenses)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    if let Some((license,)) = missing {
        return Err(StoreError::Missing {
            what: format!("license `{license}`"),
        });
    }
    let mut channels: Vec<(&str, &str)> = installs
        .iter()
        .map(|i| (i.install.app.as_str(), i.install.channel.as_str()))
        .collect();
    channels.sort_unstable();
    channels.dedup();
    let (apps, names): (Vec<&str>, Vec<&str>) = channels.into_iter().unzip();
    let missing: Option<(String, String)> = sqlx::query_as(
        "SELECT c.app, c.name FROM UNNEST($1::TEXT[], $2::TEXT[]) WITH ORDINALITY
                AS c (app, name, n)
         WHERE NOT EXISTS (SELECT 1 FROM channels
                           WHERE channels.app = c.app AND channels.name = c.name)
         ORDER BY c.n LIMIT 1",
    )
    .bind(&apps)
    .bind(&names)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    if let Some((app, channel)) = missing {
        return Err(StoreError::Missing {
            what: format!("channel `{app}/{channel}`"),
        });
    }
    Ok(())
}

/// Which install of `chunk` is already stored, for the `Conflict` message.
async fn taken_id(pool: &PgPool, chunk: &[ImportedInstall]) -> String {
    let ids: Vec<&str> = chunk.iter().map(|i| i.install.id.as_str()).collect();
    let found: Result<Option<(String,)>, _> = sqlx::query_as(
        "SELECT i.id FROM UNNEST($1::TEXT[]) WITH ORDINALITY AS i (id, n)
         WHERE EXISTS (SELECT 1 FROM installs WHERE installs.id = i.id)
         ORDER BY i.n LIMIT 1",
    )
    .bind(&ids)
    .fetch_optional(pool)
    .await;
    match found {
        Ok(Some((id,))) => format!("install `{id}`"),
        _ => "an install of the import".into(),
    }
}

/// The columns of `chunk`, one vector each, in the INSERT's order.
#[derive(Default)]
struct Columns<'a> {
    id: Vec<&'a str>,
    license_id: Vec<&'a str>,
    customer: Vec<&'a str>,
    app: Vec<&'a str>,
    channel: Vec<&'a str>,
    public_key: Vec<&'a str>,
    hostname: Vec<&'a str>,
    platform: Vec<&'a str>,
    revoked: Vec<bool>,
    created_at: Vec<i64>,
    uninstalled_at: Vec<Option<i64>>,
    report_at: Vec<Option<i64>>,
    report_status: Vec<Option<&'a str>>,
    report_version: Vec<Option<&'a str>>,
    report_release_counter: Vec<Option<i64>>,
    report_cli_version: Vec<Option<&'a str>>,
    report_free_disk_bytes: Vec<Option<i64>>,
    report_target_version: Vec<Option<&'a str>>,
    report_reason: Vec<Option<&'a str>>,
    report_policy: Vec<Option<&'a str>>,
    report_waiting: Vec<Option<&'a str>>,
    assignment_sequence: Vec<Option<i64>>,
    assignment_release_digest: Vec<Option<&'a str>>,
    assignment_expires: Vec<Option<i64>>,
    assignment_etag: Vec<Option<&'a str>>,
    assignment_envelope: Vec<Option<&'a str>>,
    assignment_compact: Vec<Option<Vec<u8>>>,
    newest_request_ms: Vec<Option<i64>>,
}

impl<'a> Columns<'a> {
    fn of(chunk: &'a [ImportedInstall]) -> StoreResult<Self> {
        let mut c = Columns::default();
        for imported in chunk {
            let i = &imported.install;
            let r = imported.report.as_ref();
            let a = imported.assignment.as_ref();
            c.id.push(&i.id);
            c.license_id.push(&i.license_id);
            c.customer.push(&i.customer);
            c.app.push(&i.app);
            c.channel.push(&i.channel);
            c.public_key.push(&i.public_key);
            c.hostname.push(&i.hostname);
            c.platform.push(&i.platform);
            c.revoked.push(i.revoked);
            c.created_at.push(i.created_at);
            c.uninstalled_at.push(i.uninstalled_at);
            c.report_at.push(r.map(|r| r.at));
            c.report_status.push(r.map(|r| r.status.as_str()));
            c.report_version.push(r.and_then(|r| r.version.as_deref()));
            c.report_release_counter.push(opt_to_db(
                r.and_then(|r| r.release_counter),
                "reported release counter",
            )?);
            c.report_cli_version.push(r.map(|r| r.cli_version.as_str()));
            c.report_free_disk_bytes.push(opt_to_db(
                r.and_then(|r| r.free_disk_bytes),
                "reported free disk bytes",
            )?);
            c.report_target_version
                .push(r.and_then(|r| r.target_version.as_deref()));
            c.report_reason.push(r.and_then(|r| r.reason.as_deref()));
            c.report_policy.push(r.and_then(|r| r.policy.as_deref()));
            c.report_waiting.push(r.and_then(|r| r.waiting.as_deref()));
            c.assignment_sequence.push(
                a.map(|a| to_db(a.sequence, "assignment sequence"))
                    .transpose()?,
            );
            c.assignment_release_digest
                .push(a.map(|a| a.release_digest.as_str()));
            c.assignment_expires.push(a.map(|a| a.expires));
            // As a check-in stores it: compact when the envelope rebuilds exactly.
            let compact = a.and_then(|a| assignment_codec::compact_stored(&i.id, a));
            let whole = a.filter(|_| compact.is_none());
            c.assignment_etag.push(whole.map(|a| a.etag.as_str()));
            c.assignment_envelope
                .push(whole.map(|a| a.envelope.as_str()));
            c.assignment_compact.push(compact);
            c.newest_request_ms.push(imported.newest_request_ms);
        }
        Ok(c)
    }
}

async fn insert_installs(conn: &mut PgConnection, c: &Columns<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO installs (id, license_id, customer, app, channel, public_key, hostname,
                               platform, revoked, created_at, uninstalled_at,
                               report_at, report_status, report_version,
                               report_release_counter, report_cli_version,
                               report_free_disk_bytes, report_target_version, report_reason,
                               report_policy, report_waiting,
                               assignment_sequence, assignment_release_digest,
                               assignment_expires, assignment_etag, assignment_envelope,
                               assignment_compact, newest_request_ms)
         SELECT id, license_id, customer, app, channel, driftless_pack(public_key), hostname,
                platform, revoked, created_at, uninstalled_at, report_at, report_status,
                report_version, report_release_counter, report_cli_version,
                report_free_disk_bytes, report_target_version, report_reason, report_policy,
                report_waiting, assignment_sequence, driftless_pack(assignment_release_digest),
                assignment_expires, assignment_etag, assignment_envelope, assignment_compact,
                newest_request_ms
         FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
                              $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::BOOLEAN[],
                              $10::BIGINT[], $11::BIGINT[],
                              $12::BIGINT[], $13::TEXT[], $14::TEXT[],
                              $15::BIGINT[], $16::TEXT[],
                              $17::BIGINT[], $18::TEXT[], $19::TEXT[],
                              $20::TEXT[], $21::TEXT[],
                              $22::BIGINT[], $23::TEXT[],
                              $24::BIGINT[], $25::TEXT[], $26::TEXT[],
                              $27::BYTEA[], $28::BIGINT[])
              AS u (id, license_id, customer, app, channel, public_key, hostname, platform,
                    revoked, created_at, uninstalled_at, report_at, report_status,
                    report_version, report_release_counter, report_cli_version,
                    report_free_disk_bytes, report_target_version, report_reason,
                    report_policy, report_waiting, assignment_sequence,
                    assignment_release_digest, assignment_expires, assignment_etag,
                    assignment_envelope, assignment_compact, newest_request_ms)",
    )
    .bind(&c.id)
    .bind(&c.license_id)
    .bind(&c.customer)
    .bind(&c.app)
    .bind(&c.channel)
    .bind(&c.public_key)
    .bind(&c.hostname)
    .bind(&c.platform)
    .bind(&c.revoked)
    .bind(&c.created_at)
    .bind(&c.uninstalled_at)
    .bind(&c.report_at)
    .bind(&c.report_status)
    .bind(&c.report_version)
    .bind(&c.report_release_counter)
    .bind(&c.report_cli_version)
    .bind(&c.report_free_disk_bytes)
    .bind(&c.report_target_version)
    .bind(&c.report_reason)
    .bind(&c.report_policy)
    .bind(&c.report_waiting)
    .bind(&c.assignment_sequence)
    .bind(&c.assignment_release_digest)
    .bind(&c.assignment_expires)
    .bind(&c.assignment_etag)
    .bind(&c.assignment_envelope)
    .bind(&c.assignment_compact)
    .bind(&c.newest_request_ms)
    .execute(&mut *conn)
    .await
    .map(|_| ())
}
