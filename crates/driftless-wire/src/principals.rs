//! The vendor API's users and tokens: what `driftless-vendor user|token` sends and
//! reads. A token's secret appears once, in the answer that made it.

use serde::{Deserialize, Serialize};

/// `POST /v1/users`.
#[derive(Clone, Serialize, Deserialize)]
pub struct CreateUser {
    /// Unique name (`a-z`, `0-9`, `.`, `_`, `-`).
    pub name: String,
    /// `owner`, `release-manager`, `support` or `ci-publisher`.
    pub role: String,
    /// The one app the user may act on; `None` for every app.
    #[serde(default)]
    pub app: Option<String>,
    /// The dashboard password (hashed with argon2 on arrival); `None`: no dashboard login.
    #[serde(default)]
    pub password: Option<String>,
    /// Lifetime of the API token made with the user, in seconds.
    #[serde(default)]
    pub token_expires_in_s: Option<i64>,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

/// A user as listed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserInfo {
    /// The name.
    pub name: String,
    /// The role.
    pub role: String,
    /// The app scope, if any.
    pub app: Option<String>,
    /// Whether the user can log in to the dashboard.
    pub dashboard_login: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, once revoked.
    pub revoked_at: Option<i64>,
}

/// `POST /v1/tokens`: a machine's token (`ci-publisher` of `app`), or, with `user`,
/// another token for a user (carrying the user's role and scope).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateToken {
    /// The app a CI token may publish to (required without `user`).
    #[serde(default)]
    pub app: Option<String>,
    /// The user the token acts for.
    #[serde(default)]
    pub user: Option<String>,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in_s: Option<i64>,
}

/// `POST /v1/tokens/{id}/rotate`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RotateToken {
    /// Lifetime of the new token in seconds; the old one's lifetime when absent.
    #[serde(default)]
    pub expires_in_s: Option<i64>,
}

/// A token as listed (never its secret).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Public id, as the audit log names it (`token:<id>`).
    pub id: String,
    /// The user it acts for, if any.
    pub user: Option<String>,
    /// Its role.
    pub role: String,
    /// Its app scope, if any.
    pub app: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds, once revoked.
    pub revoked_at: Option<i64>,
}

/// A token just made: the one time its secret is shown.
#[derive(Clone, Serialize, Deserialize)]
pub struct IssuedToken {
    /// What it is.
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The bearer token itself.
    pub token: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}
