//! The receipt chain of air-gapped installs: the last receipt imported for each, moved
//! on only by a receipt that names it as its previous (a compare-and-set), so two
//! receipts forked from the same one cannot both be linked.

use driftless_store::{ReceiptLink, StoreResult};
use sqlx::PgConnection;

use crate::error::backend;

/// Moves the chain on from `previous` to the new receipt.
const ADVANCE: &str = "UPDATE receipt_chains SET sequence = $3, digest = $4
     WHERE install_id = $1 AND digest = $2";

/// Starts the chain of an install none of whose receipts was imported yet.
const START: &str = "INSERT INTO receipt_chains (install_id, sequence, digest)
     VALUES ($1, $2, $3) ON CONFLICT (install_id) DO NOTHING";

pub(crate) async fn link_receipt(
    conn: &mut PgConnection,
    install_id: &str,
    previous: Option<&str>,
    sequence: i64,
    digest: &str,
) -> StoreResult<ReceiptLink> {
    if let Some(previous) = previous {
        let moved = sqlx::query(ADVANCE)
            .bind(install_id)
            .bind(previous)
            .bind(sequence)
            .bind(digest)
            .execute(&mut *conn)
            .await
            .map_err(backend)?
            .rows_affected();
        if moved == 1 {
            return Ok(ReceiptLink::Linked);
        }
    }
    // The first receipt imported starts the chain, whatever it names as its previous
    // (a host may have written receipts before its vendor began importing them).
    let started = sqlx::query(START)
        .bind(install_id)
        .bind(sequence)
        .bind(digest)
        .execute(&mut *conn)
        .await
        .map_err(backend)?
        .rows_affected();
    if started == 1 {
        return Ok(ReceiptLink::Linked);
    }
    let (sequence, digest): (i64, String) =
        sqlx::query_as("SELECT sequence, digest FROM receipt_chains WHERE install_id = $1")
            .bind(install_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
    Ok(ReceiptLink::Refused { sequence, digest })
}
