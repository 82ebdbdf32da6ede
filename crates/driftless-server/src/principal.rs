//! Who is calling the vendor API: the principal a bearer token stands for (a user, a
//! machine's token, or the first owner's operator token), its role and its app scope.
//!
//! Lookups are cached for [`CACHE_TTL`], so a vendor call does not read the database
//! each time; a revocation is seen at once on the replica that made it and within
//! [`CACHE_TTL`] on every other. Hosts never come here: their requests are signed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use driftless_store::{ApiToken, Store, StoreResult};

/// How long a token's lookup is trusted before the database is asked again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// Past this many cached tokens the cache starts over (only live tokens are cached).
const CACHE_CAP: usize = 10_000;
/// The actor of the operator token `init` prints: the first owner.
pub const FIRST_OWNER: &str = "owner";

/// What a principal may do, from least to most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Uploads releases of one app.
    CiPublisher,
    /// Reads fleet, customers, installs and audit; revokes an install.
    Support,
    /// Publishes, promotes, runs rollouts and sets release states for its apps.
    ReleaseManager,
    /// Everything, keys and users included.
    Owner,
}

impl Role {
    /// Every role, for listings and tests.
    pub const ALL: [Role; 4] = [
        Role::Owner,
        Role::ReleaseManager,
        Role::Support,
        Role::CiPublisher,
    ];

    /// The name stored and typed.
    pub fn name(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::ReleaseManager => "release-manager",
            Role::Support => "support",
            Role::CiPublisher => "ci-publisher",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// An authenticated caller of the vendor API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// What the audit log names: `user:<name>` or `token:<id>`; never a secret.
    pub actor: String,
    /// Its role.
    pub role: Role,
    /// The one app it may act on; `None` for every app.
    pub app: Option<String>,
}

impl Principal {
    /// The first owner, whose token is the operator token from `init`.
    pub fn first_owner() -> Principal {
        Principal {
            actor: format!("user:{FIRST_OWNER}"),
            role: Role::Owner,
            app: None,
        }
    }

    /// The principal a stored token stands for, if it is live at `now` (unix seconds).
    pub fn of_token(token: &ApiToken, now: i64) -> Option<Principal> {
        if token.revoked_at.is_some() || token.expires_at <= now {
            return None;
        }
        let actor = match &token.user {
            Some(user) => format!("user:{user}"),
            None => format!("token:{}", token.id),
        };
        Some(Principal {
            actor,
            role: Role::parse(&token.role)?,
            app: token.app.clone(),
        })
    }
}

struct Cached {
    token: ApiToken,
    fetched: Instant,
}

/// Token lookups by hash, each trusted for [`CACHE_TTL`].
#[derive(Default)]
pub struct PrincipalCache {
    entries: Mutex<HashMap<String, Cached>>,
}

impl PrincipalCache {
    /// The principal of the token hashing to `sha256`, live at `now`: from the cache
    /// when fetched less than [`CACHE_TTL`] ago, else from `store`.
    pub async fn resolve(
        &self,
        store: &dyn Store,
        sha256: &str,
        now: i64,
    ) -> StoreResult<Option<Principal>> {
        if let Some(token) = self.fresh(sha256) {
            return Ok(Principal::of_token(&token, now));
        }
        let Some(token) = store.api_token_by_hash(sha256).await? else {
            return Ok(None);
        };
        let principal = Principal::of_token(&token, now);
        if principal.is_some() {
            let mut entries = self.lock();
            if entries.len() >= CACHE_CAP {
                entries.clear();
            }
            let fetched = Instant::now();
            entries.insert(sha256.to_string(), Cached { token, fetched });
        }
        Ok(principal)
    }

    /// Forgets every cached token, so this replica sees a revocation at once.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn fresh(&self, sha256: &str) -> Option<ApiToken> {
        let entries = self.lock();
        let cached = entries.get(sha256)?;
        (cached.fetched.elapsed() < CACHE_TTL).then(|| cached.token.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn token(revoked_at: Option<i64>, expires_at: i64, user: Option<&str>) -> ApiToken {
        ApiToken {
            id: "t1".into(),
            user: user.map(Into::into),
            role: "ci-publisher".into(),
            app: Some("acme".into()),
            token_sha256: "00".into(),
            created_at: 0,
            expires_at,
            revoked_at,
        }
    }

    #[test]
    fn expired_and_revoked_tokens_stand_for_no_one() {
        assert_eq!(Principal::of_token(&token(None, 100, None), 100), None);
        assert_eq!(Principal::of_token(&token(Some(5), 200, None), 100), None);
        let live = Principal::of_token(&token(None, 200, None), 100).unwrap();
        assert_eq!(live.actor, "token:t1");
        assert_eq!(live.role, Role::CiPublisher);
        let user = Principal::of_token(&token(None, 200, Some("alice")), 100).unwrap();
        assert_eq!(user.actor, "user:alice");
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.name()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
