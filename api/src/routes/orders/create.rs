//! `POST /api/v1/orders`: validate, authorise, price from product snapshots, and write the
//! order, its items, its outbox rows and the Idempotency-Key record in one statement (one
//! commit). Two database round trips in all: see `db::orders::place`.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use orderflow_shared::{
    db::{
        self,
        orders::{NewOrder, Placement, Prepared},
    },
    domain::{
        OrderStatus,
        idempotency::fingerprint,
        money::to_cents,
        order::{MergedItem, PricedLine, RequestedItem, price_lines, validate_items},
    },
    jobs::JobKind,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{OrderItemResponse, OrderResponse};
use crate::{
    auth::CurrentUser,
    error::{ApiError, ErrorBody, Result},
    extract::{AppJson, from_value},
    idempotency::{self, KEY_TTL_SECONDS},
    state::AppState,
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
    let request_hash = fingerprint("POST", PATH, &body);
    let req: CreateOrderRequest = from_value(body)?;
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
    let notes = req
        .notes
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let product_ids: Vec<i64> = merged.iter().map(|m| m.product_id).collect();

    // A request whose key another request takes between the read and the write reads again,
    // finds that request's response, and replays it.
    for _ in 0..2 {
        let prepared = db::orders::prepare(
            &state.db,
            req.customer_id,
            &product_ids,
            user.id,
            key.as_deref(),
        )
        .await?;
        if let Some(stored) = prepared.stored {
            if stored.request_hash != request_hash {
                return Err(idempotency::mismatch());
            }
            return Ok(idempotency::replay(stored));
        }
        let placed = priced(&prepared, &merged, req.customer_id, notes)?;
        let location = format!("{PATH}/{}", placed.id);
        let response_body = serde_json::to_value(&placed).map_err(ApiError::internal)?;
        let request_id = crate::request_id::current();
        let ttl = chrono::Duration::from_std(state.settings.core.jobs.pending_order_ttl)
            .map_err(ApiError::internal)?;
        let jobs = [
            (
                JobKind::OrderConfirmation,
                db::outbox::confirmation_payload(placed.id, request_id.as_deref()),
                prepared.at,
            ),
            (
                JobKind::ExpirePendingOrder,
                db::outbox::expiry_payload(placed.id),
                prepared.at + ttl,
            ),
        ];
        let lines: Vec<PricedLine> = placed
            .items
            .iter()
            .map(|i| PricedLine {
                product_id: i.product_id,
                product_name: i.product_name.clone(),
                quantity: i.quantity,
                unit_price: i.unit_price,
            })
            .collect();
        let new = NewOrder {
            user_id: user.id,
            key: key.as_deref(),
            request_hash: &request_hash,
            response_body: &response_body,
            location: &location,
            key_ttl_seconds: KEY_TTL_SECONDS,
            order_id: placed.id,
            customer_id: placed.customer_id,
            total: placed.total,
            notes: placed.notes.as_deref(),
            at: placed.created_at,
            item_ids: &prepared.item_ids,
            lines: &lines,
            jobs: &jobs,
        };
        match db::orders::place(&state.db, &new).await? {
            Placement::Placed => {
                state.outbox.wake();
                crate::metrics::order_created();
                tracing::info!(order_id = placed.id, customer_id = placed.customer_id, total = %placed.total, "order created");
                return Ok((
                    StatusCode::CREATED,
                    [(header::LOCATION, location)],
                    Json(placed),
                )
                    .into_response());
            }
            Placement::KeyInFlight => return Err(idempotency::in_flight()),
            Placement::KeyTaken => continue,
        }
    }
    Err(idempotency::in_flight())
}

/// The order the request describes, priced from the products as `prepared` read them, with
/// the ids and time `prepared` allocated; 422 when the customer or a product is missing or
/// inactive.
fn priced(
    prepared: &Prepared,
    merged: &[MergedItem],
    customer_id: i64,
    notes: Option<&str>,
) -> Result<OrderResponse> {
    let Some((customer_name, true)) = prepared.customer.clone() else {
        return Err(ApiError::validation(
            "customer_id",
            "customer not found or inactive",
        ));
    };
    let (lines, total) = price_lines(merged, &prepared.products).map_err(ApiError::invalid)?;
    let at: DateTime<Utc> = prepared.at;
    Ok(OrderResponse {
        id: prepared.order_id,
        customer_id,
        customer_name,
        status: OrderStatus::Pending,
        total: to_cents(total),
        notes: notes.map(str::to_string),
        items: lines
            .into_iter()
            .zip(&prepared.item_ids)
            .map(|(line, &id)| OrderItemResponse {
                id,
                line_total: line.line_total(),
                unit_price: to_cents(line.unit_price),
                product_id: line.product_id,
                product_name: line.product_name,
                quantity: line.quantity,
            })
            .collect(),
        created_at: at,
        updated_at: at,
    })
}
