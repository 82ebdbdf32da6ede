//! The registry token a sync pulls with, renewed before it runs out.
//!
//! A check-in hands out one short-lived token for the whole release. On a slow link a
//! large image can take longer than the token lives, and every pull (and every layer
//! request) after that would be refused. So before each pull attempt, a token with
//! less than a third of its life left is renewed with a signed request to the control
//! plane, and a pull the registry refuses the token for is renewed and retried: the
//! images already pulled stay and the engine skips the layers it holds, so the sync
//! carries on where it stopped.
//!
//! The token is a bearer secret: it is never printed, logged or written to disk.

use anyhow::{anyhow, Context as _, Result};
use driftless_client::ClientError;
use driftless_exit::HintExt as _;
use driftless_wire::checkin::RegistryAccess;
use std::time::{Duration, Instant};

use crate::request_clock::next_request_ms;
use crate::sync::Ctx;

/// Debug builds only: when set, the CLI renews a token only after the registry refused
/// it, so a test can prove that path on its own.
pub const ONLY_RENEW_WHEN_REFUSED_ENV: &str = "DRIFTLESS_TEST_ONLY_RENEW_WHEN_REFUSED";

/// A token is renewed once less than `1 / RENEW_WHEN_LEFT_FRACTION` of its life is left.
const RENEW_WHEN_LEFT_FRACTION: u32 = 3;

/// The registry access for the release being applied, and when it was obtained.
pub struct PullToken {
    access: RegistryAccess,
    version: String,
    /// When the token was asked for, by this host's monotonic clock. The check-in's
    /// token counts from when this value was made: it is made right after the check-in
    /// answered, far less than the renewal margin later.
    obtained: Instant,
}

impl PullToken {
    /// The access a check-in gave for `version`, counted from now.
    pub fn new(access: &RegistryAccess, version: &str) -> PullToken {
        PullToken {
            access: access.clone(),
            version: version.to_string(),
            obtained: Instant::now(),
        }
    }

    /// The registry's `host:port`, which image references name.
    pub fn host(&self) -> &str {
        &self.access.host
    }

    /// The access to use now, renewed first if it is running out. When the control
    /// plane cannot be reached, a token that has not expired yet is used as it is; when
    /// it refuses (a revoked install), the sync stops.
    pub async fn fresh(&mut self, ctx: &Ctx<'_>) -> Result<&RegistryAccess> {
        let age = self.obtained.elapsed();
        if !renews_early() || !running_out(age, self.access.expires_in) {
            return Ok(&self.access);
        }
        if let Err(e) = self.renew(ctx).await {
            let expired = age >= Duration::from_secs(self.access.expires_in);
            if expired || refused_by_control_plane(&e) {
                return Err(e);
            }
            eprintln!(
                "warning: {}; pulling with the current token while it lasts",
                driftless_exit::one_line(&e)
            );
        }
        Ok(&self.access)
    }

    /// Asks the control plane for a fresh token for the release being applied.
    pub async fn renew(&mut self, ctx: &Ctx<'_>) -> Result<()> {
        let key = ctx.dir.load_key()?;
        let client = crate::run_trace::client(&ctx.config.server)?;
        let asked = Instant::now();
        let signed_at_ms = next_request_ms(ctx.dir)?;
        let answer = client
            .registry_token(&ctx.config.install_id, &key, signed_at_ms)
            .await
            .context("cannot renew the registry token; the running app was not touched")?;
        if answer.version != self.version {
            return Err(anyhow!(
                "the assignment changed to {} during the sync",
                answer.version
            ))
            .hint("run `driftless sync` again");
        }
        if answer.registry.host != self.access.host {
            return Err(anyhow!(
                "the registry moved to {} during the sync",
                answer.registry.host
            ))
            .hint("run `driftless sync` again");
        }
        self.access = answer.registry;
        self.obtained = asked;
        eprintln!(
            "renewed the registry token for {} (valid {}s)",
            self.version, self.access.expires_in
        );
        Ok(())
    }
}

/// Whether the control plane answered a renewal with a refusal (rather than not at all).
fn refused_by_control_plane(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<ClientError>(),
            Some(ClientError::Api { .. })
        )
    })
}

/// Whether a token running out is renewed before it is refused (always, except when a
/// debug build's test turns it off through [`ONLY_RENEW_WHEN_REFUSED_ENV`]).
fn renews_early() -> bool {
    !(cfg!(debug_assertions) && std::env::var_os(ONLY_RENEW_WHEN_REFUSED_ENV).is_some())
}

/// Whether a token `age` old that lives `lifetime_s` seconds has less than its renewal
/// margin left (an expired one has none).
fn running_out(age: Duration, lifetime_s: u64) -> bool {
    let lifetime = Duration::from_secs(lifetime_s);
    age.saturating_add(lifetime / RENEW_WHEN_LEFT_FRACTION) >= lifetime
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_once_less_than_a_third_of_its_life_is_left() {
        let s = Duration::from_secs;
        assert!(!running_out(s(0), 60));
        assert!(!running_out(s(39), 60));
        assert!(running_out(s(40), 60));
        assert!(running_out(s(61), 60));
        assert!(!running_out(s(199), 300));
        assert!(running_out(s(200), 300));
        // A token the server says lives no time at all is always renewed.
        assert!(running_out(s(0), 0));
    }

    #[test]
    fn only_an_answer_of_the_control_plane_counts_as_a_refusal() {
        let refused = anyhow::Error::new(ClientError::Api {
            status: 403,
            code: "install_revoked".into(),
            message: "this install or its license has been revoked".into(),
            hint: Some("contact your vendor".into()),
        })
        .context("cannot renew the registry token");
        assert!(refused_by_control_plane(&refused));
        let away = anyhow::Error::new(ClientError::Unreachable {
            url: "http://127.0.0.1:1/v1/installs/ins_1/registry-token".into(),
            reason: "connection refused or no route".into(),
        })
        .context("cannot renew the registry token");
        assert!(!refused_by_control_plane(&away));
    }
}
