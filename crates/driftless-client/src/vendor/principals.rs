//! The vendor API's users and tokens (owners only).

use driftless_wire::principals::{
    CreateToken, CreateUser, IssuedToken, RotateToken, TokenInfo, UserInfo,
};

use crate::{ClientError, VendorClient};

impl VendorClient {
    /// `POST /v1/users`: the user and their first token.
    pub async fn create_user(&self, req: &CreateUser) -> Result<IssuedToken, ClientError> {
        self.post("/v1/users", req).await
    }

    /// `GET /v1/users`.
    pub async fn list_users(&self) -> Result<Vec<UserInfo>, ClientError> {
        self.get("/v1/users").await
    }

    /// `POST /v1/users/{name}/revoke`: the user and all their tokens.
    pub async fn revoke_user(&self, name: &str) -> Result<(), ClientError> {
        self.post_empty(&format!("/v1/users/{name}/revoke")).await
    }

    /// `POST /v1/tokens`.
    pub async fn create_token(&self, req: &CreateToken) -> Result<IssuedToken, ClientError> {
        self.post("/v1/tokens", req).await
    }

    /// `GET /v1/tokens`.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, ClientError> {
        self.get("/v1/tokens").await
    }

    /// `POST /v1/tokens/{id}/revoke`.
    pub async fn revoke_token(&self, id: &str) -> Result<(), ClientError> {
        self.post_empty(&format!("/v1/tokens/{id}/revoke")).await
    }

    /// `POST /v1/tokens/{id}/rotate`: the new token; the old one is revoked.
    pub async fn rotate_token(
        &self,
        id: &str,
        req: &RotateToken,
    ) -> Result<IssuedToken, ClientError> {
        self.post(&format!("/v1/tokens/{id}/rotate"), req).await
    }
}
