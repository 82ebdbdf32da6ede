//! What an operator is told when they move a channel back (a rollout abort, a yank):
//! hosts refuse any release below the rollback floor signed into a release they
//! verified, whatever the control plane assigns, so a move back across that floor
//! leaves them on the release they run, reporting `below_rollback_floor`.

use driftless_store::Release;
use driftless_wire::api::FloorWarning;
use driftless_wire::release::ReleaseDocument;
use driftless_wire::{Envelope, RELEASE_PAYLOAD_TYPE};

use crate::error::ApiError;
use crate::state::AppState;

/// The warning for moving `channel` of `app` from `from_version` back to
/// `to_version`, when the latter is below the former's rollback floor.
pub async fn warning(
    state: &AppState,
    app: &str,
    channel: &str,
    from_version: &str,
    to_version: &str,
) -> Result<Option<FloorWarning>, ApiError> {
    let (Some(from), Some(to)) = (
        state.store.get_release(app, from_version).await?,
        state.store.get_release(app, to_version).await?,
    ) else {
        return Ok(None);
    };
    let floor = floor_of(&from)?;
    if to.release_counter >= floor {
        return Ok(None);
    }
    let floor_version = state
        .store
        .list_releases(app)
        .await?
        .into_iter()
        .find(|r| r.release_counter == floor)
        .map(|r| r.version);
    let at = match &floor_version {
        Some(v) => format!("{v} (release counter {floor})"),
        None => format!("release counter {floor}"),
    };
    let message = format!(
        "hosts on `{channel}` that verified {from_version} will refuse to go back to {to_version}: \
         {from_version} sets the rollback floor {at}; they keep running what they run and report below_rollback_floor"
    );
    Ok(Some(FloorWarning {
        channel: channel.to_string(),
        from_version: from_version.to_string(),
        to_version: to_version.to_string(),
        floor_counter: floor,
        floor_version,
        message,
    }))
}

/// The rollback floor signed into a stored release.
fn floor_of(release: &Release) -> Result<u64, ApiError> {
    let env: Envelope = serde_json::from_str(&release.envelope).map_err(ApiError::internal)?;
    let doc: ReleaseDocument = env
        .decode(RELEASE_PAYLOAD_TYPE, "release document")
        .map_err(ApiError::internal)?;
    Ok(doc.rollback_floor)
}
