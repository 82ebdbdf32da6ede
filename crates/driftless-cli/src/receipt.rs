//! `driftless status --receipt FILE`: the status report, signed by this host's key and
//! chained to the previous receipt (kept in the state directory), for a vendor that
//! cannot hear from the host any other way.

use anyhow::{Context as _, Result};
use driftless_bundle::{sign_receipt, Receipt};
use driftless_wire::{Digest, Envelope, PublicKey};
use std::path::Path;

use crate::files::write_atomic;
use crate::state::StateDir;

/// Writes the next receipt to `file`; returns its sequence number.
pub async fn write(dir: &StateDir, file: &Path) -> Result<u64> {
    let _lock = dir.lock()?;
    let config = dir.load_config()?;
    let key = dir.load_key()?;
    let last_path = dir.root().join("receipts.last.json");
    let previous: Option<(u64, Digest)> = match std::fs::read(&last_path) {
        Ok(bytes) => {
            let env: Envelope = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is corrupt", last_path.display()))?;
            let r: Receipt =
                env.decode(driftless_bundle::RECEIPT_PAYLOAD_TYPE, "status receipt")?;
            Some((r.sequence, Digest::of(&env.payload_bytes()?)))
        }
        Err(_) => None,
    };
    let status = serde_json::to_value(crate::status::report(dir).await?)?;
    let receipt = Receipt {
        doc_type: "receipt".into(),
        install_id: config.install_id,
        app: config.app,
        public_key: PublicKey::from_signing_key(&key),
        sequence: previous.as_ref().map_or(1, |(s, _)| s + 1),
        previous: previous.map(|(_, d)| d),
        issued_at: crate::now(),
        status,
    };
    let env = sign_receipt(&receipt, &key);
    let bytes = serde_json::to_vec_pretty(&env)?;
    write_atomic(file, &bytes, false)?;
    // Recorded after the file is written: a receipt that never left is not chained on.
    write_atomic(&last_path, &bytes, false)?;
    Ok(receipt.sequence)
}
