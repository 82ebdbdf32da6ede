//! Registry tokens: minting them, and the standard token endpoint (`realm`) so a
//! person can `docker login` with the operator token or an install's short-lived
//! login credential.
//!
//! The endpoint reads its raw query with `form_urlencoded` rather than axum's
//! `Query<T>`: distribution sends one `scope=` parameter per repository, and serde's
//! urlencoded deserializer keeps only one of them.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_registry_token::{parse_scope, Access, TokenRequest};
use driftless_wire::api::TokenResponse;
use driftless_wire::release::ReleaseDocument;

use crate::auth::is_operator_token;
use crate::error::ApiError;
use crate::state::AppState;

/// Mints a token for `subject` with exactly `access`.
pub fn mint(
    state: &AppState,
    subject: &str,
    access: Vec<Access>,
) -> Result<TokenResponse, ApiError> {
    let req = TokenRequest {
        issuer: state.config.token_issuer.clone(),
        subject: subject.to_string(),
        audience: state.config.token_service.clone(),
        access,
        lifetime_s: state.config.token_lifetime_s,
    };
    let t = state
        .keys()
        .tokens
        .mint(&req, crate::now())
        .map_err(ApiError::internal)?;
    state.metrics.token_minted();
    Ok(TokenResponse {
        access_token: t.token.clone(),
        token: t.token,
        expires_in: t.expires_in,
        issued_at: t.issued_at,
    })
}

/// Pull access to every repository of a release.
pub fn pull_access(release: &ReleaseDocument) -> Vec<Access> {
    release
        .repositories()
        .into_iter()
        .map(|name| Access {
            kind: "repository".into(),
            name,
            actions: vec!["pull".into()],
        })
        .collect()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let decoded = B64.decode(value.strip_prefix("Basic ")?).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

fn challenge() -> Response {
    let body = Json(driftless_wire::api::ErrorBody {
        code: "unauthorized".into(),
        message: "the registry token endpoint needs credentials".into(),
        hint: Some("log in with user `operator` and the operator token, or with an install id and the output of `driftless registry-login`".into()),
    });
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"driftless\"")],
        body,
    )
        .into_response()
}

/// What an install's login credential allows: pull on its assigned release's repositories.
async fn install_allowed(
    state: &AppState,
    install_id: &str,
    password: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    // The credential first: checking it needs no database read.
    if !crate::registry_login::credential_is_valid(state, install_id, password, crate::now()) {
        return Ok(None);
    }
    let Some(view) = state.store.checkin_view(install_id).await? else {
        return Ok(None);
    };
    if view.install.revoked || view.license_revoked {
        return Ok(None);
    }
    let release = crate::registry_renewal::assigned_release(state, &view).await?;
    Ok(Some(
        release.map(|doc| doc.repositories()).unwrap_or_default(),
    ))
}

/// `GET /v1/registry/token?service=…&scope=…`: distribution's token protocol.
pub async fn token_endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let Some((user, pass)) = basic_credentials(&headers) else {
        return Ok(challenge());
    };
    let mut scopes = Vec::new();
    for (k, v) in query_pairs(query.as_deref().unwrap_or("")) {
        match k.as_str() {
            "scope" => scopes.push(parse_scope(&v).map_err(|e| ApiError {
                hint: e.hint(),
                ..ApiError::bad_request(e.to_string())
            })?),
            "service" if v != state.config.token_service => {
                return Err(
                    ApiError::bad_request(format!("unknown service `{v}`")).with_hint(format!(
                        "this control plane issues tokens for `{}`",
                        state.config.token_service
                    )),
                );
            }
            _ => {}
        }
    }
    let access: Vec<Access> = if user == "operator" && is_operator_token(&state, &pass) {
        scopes
    } else if let Some(allowed) = install_allowed(&state, &user, &pass).await? {
        scopes
            .into_iter()
            .filter(|s| s.kind == "repository" && allowed.contains(&s.name))
            .map(|s| Access {
                actions: s.actions.into_iter().filter(|a| a == "pull").collect(),
                ..s
            })
            .collect()
    } else {
        return Ok(challenge());
    };
    Ok(Json(mint(&state, &user, access)?).into_response())
}

/// Splits a query string into decoded pairs, keeping repeated keys.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_keep_repeated_scopes_and_decode_them() {
        let pairs = query_pairs(
            "service=reg&scope=repository%3Aacme%2Fweb%3Apull&scope=repository:acme/db:pull,push",
        );
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[1].1, "repository:acme/web:pull");
        assert_eq!(pairs[2].1, "repository:acme/db:pull,push");
    }

    #[test]
    fn malformed_percent_escapes_are_kept_as_they_are() {
        let pairs = query_pairs("scope=%zz%4&%4=%");
        assert_eq!(pairs[0], ("scope".into(), "%zz%4".into()));
        assert_eq!(pairs[1], ("%4".into(), "%".into()));
    }

    #[test]
    fn plus_is_a_space_and_empty_or_bare_parameters_are_tolerated() {
        let pairs = query_pairs("service=my+registry&&account");
        assert_eq!(pairs[0], ("service".into(), "my registry".into()));
        assert_eq!(pairs[1], ("account".into(), String::new()));
        assert_eq!(pairs.len(), 2, "{pairs:?}");
    }
}
