//! `driftless-vendor receipt import FILE`: record a status receipt an air-gapped host
//! wrote (`driftless status --receipt FILE`) in the fleet view.

use anyhow::{Context as _, Result};
use driftless_client::ClientError;
use driftless_exit::code::BUNDLE_REFUSED;
use driftless_wire::Envelope;
use std::path::PathBuf;

use crate::remote::Remote;

/// The largest receipt read.
const MAX_RECEIPT_BYTES: u64 = 1 << 20;

/// Arguments of `receipt`.
#[derive(clap::Args)]
pub struct ReceiptArgs {
    #[command(subcommand)]
    action: ReceiptAction,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Subcommand)]
enum ReceiptAction {
    /// Verify a receipt and record the host's state (created as an air-gapped install
    /// of its license at its first receipt).
    Import {
        /// The receipt file the host wrote.
        file: PathBuf,
    },
}

/// Runs a `receipt` action.
pub async fn run(args: ReceiptArgs) -> Result<()> {
    let ReceiptAction::Import { file } = args.action;
    let refuse = |why: String| {
        driftless_exit::Coded(
            BUNDLE_REFUSED,
            format!(
                "receipt {} refused: {why}; nothing was recorded",
                file.display()
            ),
        )
    };
    let len = std::fs::metadata(&file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    if len > MAX_RECEIPT_BYTES {
        return Err(refuse(format!("it is {len} bytes, more than a receipt can be")).into());
    }
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let env: Envelope = serde_json::from_slice(&bytes).map_err(|e| refuse(e.to_string()))?;
    driftless_bundle::verify_receipt(&env, None).map_err(|e| refuse(e.to_string()))?;
    let client = args.remote.client()?;
    let done = match client.import_receipt(&env).await {
        Ok(d) => d,
        Err(ClientError::Api { code, message, .. }) if code == "receipt_refused" => {
            return Err(refuse(message).into())
        }
        Err(e) => return Err(e.into()),
    };
    println!("{}", done.install_id);
    eprintln!(
        "recorded receipt {} of air-gapped install {} (written {})",
        done.sequence,
        done.install_id,
        crate::output::timestamp(done.issued_at)
    );
    Ok(())
}
