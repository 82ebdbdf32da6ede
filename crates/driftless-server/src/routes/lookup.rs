//! The records a vendor route acts on, looked up or refused with a 404 that says how
//! to create them.

use driftless_store::{Channel, Release};

use crate::error::ApiError;
use crate::state::AppState;

/// Requires that app `app` exists.
pub(crate) async fn require_app(state: &AppState, app: &str) -> Result<(), ApiError> {
    match state.store.get_app(app).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(
            "unknown_app",
            format!("unknown app `{app}`; create it with `driftless-vendor app create {app}`"),
        )),
    }
}

/// Channel `channel` of `app`, which must exist.
pub(crate) async fn require_channel(
    state: &AppState,
    app: &str,
    channel: &str,
) -> Result<Channel, ApiError> {
    state.store.get_channel(app, channel).await?.ok_or_else(|| {
        ApiError::not_found(
            "unknown_channel",
            format!("unknown channel `{channel}` of app `{app}`; create it with `driftless-vendor channel create --app {app} {channel}`"),
        )
    })
}

/// Release `version` of `app`, which must have been published, to point a channel at.
pub(crate) async fn require_release(
    state: &AppState,
    app: &str,
    version: &str,
) -> Result<Release, ApiError> {
    state.store.get_release(app, version).await?.ok_or_else(|| {
        ApiError::not_found(
            "unknown_release",
            format!("app `{app}` has no release {version}; publish it first"),
        )
    })
}
