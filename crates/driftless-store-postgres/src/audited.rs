//! [`driftless_store::Store::apply_audited`]: an audited change and its audit entry on
//! one transaction (the chain's advisory lock is taken by the append, after the change,
//! so the head cannot move under it) and a
//! change never commits without its entry.

use driftless_store::{entry_for, Applied, AuditEvent, AuditedChange, StoreError, StoreResult};
use sqlx::{PgConnection, PgPool};

use crate::error::backend;
use crate::{audit, catalog, fleet, licensing, policies, principals, replicas, rollouts};
use crate::{receipts, support_bundles, webhooks};

pub(crate) async fn apply_audited(
    pool: &PgPool,
    change: &AuditedChange,
    events: &[AuditEvent],
) -> StoreResult<Applied> {
    if events.is_empty() {
        return Err(StoreError::Backend(
            "an audited change needs an audit entry".into(),
        ));
    }
    let mut tx = pool.begin().await.map_err(backend)?;
    let applied = match changes::apply_in(&mut tx, change).await {
        Ok(applied) if applied.happened() => applied,
        other => {
            tx.rollback().await.map_err(backend)?;
            return other;
        }
    };
    for event in events {
        if let Err(e) = audit::append_in(&mut tx, &entry_for(event, &applied)).await {
            tx.rollback().await.map_err(backend)?;
            return Err(e);
        }
    }
    tx.commit().await.map_err(backend)?;
    Ok(applied)
}

driftless_store::audited_changes!(PgConnection);
