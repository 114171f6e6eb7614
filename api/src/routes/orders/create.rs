//! `POST /api/v1/orders`: validate, authorise, claim the Idempotency-Key, price from product
//! snapshots and write the order with its items in one transaction.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use orderflow_shared::{
    db::{self, idempotency::StoredResponse},
    domain::{
        idempotency::fingerprint,
        order::{RequestedItem, price_lines, validate_items},
    },
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{OrderResponse, load_visible};
use crate::{
    app::AppState,
    auth::CurrentUser,
    error::{ApiError, ErrorBody, Result},
    extract::{AppJson, from_value},
    idempotency::{self, KEY_TTL_SECONDS},
};

const PATH: &str = "/api/v1/orders";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_id": 7, "items": [{"product_id": 3, "quantity": 2}], "notes": "Leave at the door"}))]
pub struct CreateOrderRequest {
    pub customer_id: i64,
    /// At least one line; lines of the same product are merged; at most 20 units in all.
    pub items: Vec<OrderItemRequest>,
    /// At most 500 characters.
    pub notes: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderItemRequest {
    pub product_id: i64,
    /// At least 1.
    pub quantity: i64,
}

/// Places an order. Prices come from the products at this moment. The confirmation email
/// and the pending-order expiry are queued in the same transaction (outbox). With an `Idempotency-Key`
/// header, repeating the same request returns the stored response (`Idempotent-Replayed: true`)
/// instead of a second order.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders",
    request_body = CreateOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header,
            description = "1–255 visible ASCII characters; scoped to the user; kept 24 h")),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 201, description = "Created (or replayed)", body = OrderResponse,
         headers(("Location" = String), ("Idempotent-Replayed" = String))),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "A customer ordering for another customer", body = ErrorBody),
        (status = 409, description = "Same Idempotency-Key still in flight", body = ErrorBody),
        (status = 422, description = "Rule violated (items, quantities, products, customer, notes), \
                                      unknown field, or key reused with another body", body = ErrorBody),
    ))]
pub async fn create_order(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    AppJson(body): AppJson<Value>,
) -> Result<Response> {
    let key = idempotency::key_from(&headers)?;
    let req: CreateOrderRequest = from_value(body.clone())?;
    let requested: Vec<RequestedItem> = req
        .items
        .iter()
        .map(|i| RequestedItem {
            product_id: i.product_id,
            quantity: i.quantity,
        })
        .collect();
    let merged = validate_items(&requested, req.notes.as_deref()).map_err(ApiError::invalid)?;
    if user
        .own_customer_id()
        .is_some_and(|own| own != req.customer_id)
    {
        return Err(ApiError::ForbiddenWith(
            "Customers may only place orders for themselves".into(),
        ));
    }

    let mut tx = state.db.begin().await?;
    let request_hash = fingerprint("POST", PATH, &body);
    if let Some(key) = &key {
        if !db::idempotency::try_lock(&mut *tx, user.id, key).await? {
            return Err(idempotency::in_flight());
        }
        if let Some(stored) = db::idempotency::find(&mut *tx, user.id, key).await? {
            if stored.request_hash != request_hash {
                return Err(idempotency::mismatch());
            }
            return Ok(idempotency::replay(stored));
        }
    }

    let customer = db::customers::get(&mut *tx, req.customer_id).await?;
    if !customer.as_ref().is_some_and(|c| c.is_active) {
        return Err(ApiError::validation(
            "customer_id",
            "customer not found or inactive",
        ));
    }
    let ids: Vec<i64> = merged.iter().map(|m| m.product_id).collect();
    let products = db::orders::product_snapshots(&mut tx, &ids).await?;
    let (lines, total) = price_lines(&merged, &products).map_err(ApiError::invalid)?;
    let notes = req
        .notes
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let order_id = db::orders::insert(&mut tx, req.customer_id, total, notes, &lines).await?;
    let request_id = crate::middleware::request_context::current_request_id();
    let confirmation =
        db::outbox::enqueue_confirmation(&mut *tx, order_id, request_id.as_deref()).await?;
    let ttl = chrono::Duration::from_std(state.settings.jobs.pending_order_ttl)
        .map_err(ApiError::internal)?;
    db::outbox::enqueue_expiry(&mut *tx, order_id, chrono::Utc::now() + ttl).await?;
    let order = load_visible(&mut tx, &user, order_id).await?;
    let location = format!("{PATH}/{order_id}");

    if let Some(key) = &key {
        let stored = StoredResponse {
            request_hash,
            status_code: StatusCode::CREATED.as_u16() as i16,
            response_body: serde_json::to_value(&order).map_err(ApiError::internal)?,
            location: Some(location.clone()),
        };
        db::idempotency::store(&mut *tx, user.id, key, &stored, KEY_TTL_SECONDS).await?;
    }
    tx.commit().await?;
    crate::jobs::dispatch_soon(&state, vec![confirmation]);
    tracing::info!(order_id, customer_id = req.customer_id, %total, "order created");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json::<OrderResponse>(order),
    )
        .into_response())
}
