//! Customers (vendor API): create one, list them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use driftless_store::{Applied, AuditedChange};
use driftless_wire::api::{CreateCustomer, CustomerInfo};

use super::audit;
use super::input::parse_json;
use crate::error::ApiError;
use crate::now;
use crate::state::AppState;

/// `POST /v1/customers`.
pub async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<CustomerInfo>), ApiError> {
    let req: CreateCustomer = parse_json(&body, "customer")?;
    let name = req.name.trim();
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "customer name must be 1 to 128 printable characters",
        ));
    }
    let change = AuditedChange::CreateCustomer {
        name: name.to_owned(),
        now: now(),
    };
    let Applied::Customer(c) = audit::apply(
        &state,
        change,
        "customer.create",
        name,
        serde_json::json!({}),
    )
    .await?
    else {
        return Err(ApiError::internal(
            "creating a customer returned no customer",
        ));
    };
    Ok((
        StatusCode::CREATED,
        Json(CustomerInfo {
            name: c.name,
            created_at: c.created_at,
        }),
    ))
}

/// `GET /v1/customers`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<CustomerInfo>>, ApiError> {
    let list = state.store.list_customers().await?;
    Ok(Json(
        list.into_iter()
            .map(|c| CustomerInfo {
                name: c.name,
                created_at: c.created_at,
            })
            .collect(),
    ))
}
