//! The vendor's principals in domain types: users (a name, a role, an optional app
//! scope, a password hash for the dashboard) and API tokens (stored by their hash only).

/// A user of the vendor side. The role and app scope are names the control plane owns.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Unique.
    pub name: String,
    /// `owner`, `release-manager`, `support` or `ci-publisher`.
    pub role: String,
    /// The one app the user may act on; `None` for every app.
    pub app: Option<String>,
    /// The argon2 PHC string of the dashboard password; `None`: no dashboard login.
    pub password_hash: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; set once revoked.
    pub revoked_at: Option<i64>,
}

/// An API token: what it may do, and until when. The token itself is kept nowhere.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Public, unique (shown in lists and the audit log).
    pub id: String,
    /// The user it acts for; `None` for a machine's token (CI).
    pub user: Option<String>,
    /// The role it carries (a user's token carries the user's).
    pub role: String,
    /// Its app scope (a user's token carries the user's).
    pub app: Option<String>,
    /// Hex SHA-256 of the token.
    pub token_sha256: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds after which it is refused.
    pub expires_at: i64,
    /// Unix seconds; set once revoked.
    pub revoked_at: Option<i64>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("app", &self.app)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("role", &self.role)
            .field("app", &self.app)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}
