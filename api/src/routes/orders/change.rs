//! Changing orders: status transitions (conditional update: racing transitions have exactly
//! one winner), notes, and deletion (admin). Every change is audited in its transaction.

use axum::{Json, extract::State, http::StatusCode};
use orderflow_shared::{
    cache::Entity,
    db,
    domain::{OrderStatus, order::check_notes},
    jobs::status_change_emails,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::{OrderResponse, load_visible};
use crate::{
    audit,
    auth::CurrentUser,
    error::{ApiError, ErrorBody, Result},
    extract::{AppJson, AppPath},
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "processing"}))]
pub struct StatusChangeRequest {
    pub status: OrderStatus,
}

/// Moves an order along pending → processing → shipped → delivered (or to cancelled from
/// pending/processing). Staff/admin may make any allowed transition; a customer may only cancel
/// its own pending order.
#[utoipa::path(patch, path = "/api/v1/orders/{id}/status", tag = "orders",
    params(("id" = i64, Path, description = "Order id")),
    request_body = StatusChangeRequest,
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The order in its new status", body = OrderResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "A customer doing more than cancelling a pending order", body = ErrorBody),
        (status = 404, description = "No such order (or not yours)", body = ErrorBody),
        (status = 409, description = "Invalid transition, e.g. `Invalid transition: shipped -> pending`", body = ErrorBody),
        (status = 422, description = "Unknown status", body = ErrorBody),
    ))]
pub async fn change_status(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppJson(req): AppJson<StatusChangeRequest>,
) -> Result<Json<OrderResponse>> {
    let mut tx = state.db.begin().await?;
    let order = db::orders::state(&mut *tx, id)
        .await?
        .filter(|o| user.can_see_customer(o.customer_id))
        .ok_or_else(|| ApiError::not_found("Order"))?;
    let from = order.status;
    let to = req.status;
    if !user.role.is_staff_or_admin() && !OrderStatus::customer_may_change(from, to) {
        return Err(ApiError::ForbiddenWith(
            "Customers may only cancel their own pending orders".into(),
        ));
    }
    from.transition(to)
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    if !db::orders::update_status(&mut *tx, id, from, to).await? {
        // Someone else moved it first; report the transition as it now stands.
        let now = db::orders::state(&mut *tx, id)
            .await?
            .ok_or_else(|| ApiError::not_found("Order"))?
            .status;
        return Err(ApiError::Conflict(format!(
            "Invalid transition: {now} -> {to}"
        )));
    }
    audit::record(
        &mut tx,
        &user,
        "order.status_changed",
        ("order", id),
        Some(&json!({"status": from})),
        Some(&json!({"status": to})),
    )
    .await?;
    let emails = status_change_emails(to);
    if emails {
        let request_id = crate::request_id::current();
        db::outbox::enqueue_status_changed(&mut *tx, id, to, request_id.as_deref()).await?;
    }
    let order = load_visible(&mut *tx, &user, id).await?;
    tx.commit().await?;
    state.cache.invalidate(Entity::Order, &[id]).await;
    if emails {
        state.outbox.wake();
    }
    tracing::info!(order_id = id, %from, %to, "order status changed");
    Ok(Json(order))
}

/// Fields of an order that exist but can never be changed through `PATCH`.
const IMMUTABLE: [&str; 7] = [
    "id",
    "customer_id",
    "customer_name",
    "status",
    "total",
    "items",
    "created_at",
];

/// Reads `notes` out of a PATCH body, refusing every other field by name.
fn parse_notes_patch(body: &Map<String, Value>) -> Result<Option<String>> {
    for field in body.keys() {
        if IMMUTABLE.contains(&field.as_str()) || field == "updated_at" {
            let hint = if field == "status" {
                "; use PATCH /api/v1/orders/{id}/status"
            } else {
                ""
            };
            return Err(ApiError::validation(
                field.clone(),
                format!("is immutable{hint}"),
            ));
        }
        if field != "notes" {
            return Err(ApiError::validation(
                field.clone(),
                "is not an accepted field",
            ));
        }
    }
    match body.get("notes") {
        None => Err(ApiError::validation("notes", "is required")),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match check_notes(s) {
            Ok(()) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
            Err(problem) => Err(ApiError::validation("notes", problem)),
        },
        Some(_) => Err(ApiError::validation("notes", "must be a string or null")),
    }
}

/// The body of `PATCH /api/v1/orders/{id}`, for the document: the handler reads a map, so
/// that it can name the field it refuses (`parse_notes_patch`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"notes": "Ring twice"}))]
#[allow(dead_code)]
pub struct UpdateOrderRequest {
    /// New notes (trimmed; empty or null clears them).
    #[schema(required = true, max_length = 500)]
    notes: Option<String>,
}

/// Changes an order's notes (staff/admin, or the customer on its own order). Any other field
/// is refused with 422 naming it.
#[utoipa::path(patch, path = "/api/v1/orders/{id}", tag = "orders",
    params(("id" = i64, Path, description = "Order id")),
    request_body(content = UpdateOrderRequest),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The updated order", body = OrderResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such order (or not yours)", body = ErrorBody),
        (status = 422, description = "Immutable or unknown field, or notes too long", body = ErrorBody),
    ))]
pub async fn update_order(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppJson(body): AppJson<Map<String, Value>>,
) -> Result<Json<OrderResponse>> {
    let notes = parse_notes_patch(&body)?;
    let mut tx = state.db.begin().await?;
    let before = db::orders::lock(&mut *tx, id)
        .await?
        .filter(|o| user.can_see_customer(o.customer_id))
        .ok_or_else(|| ApiError::not_found("Order"))?;
    db::orders::update_notes(&mut *tx, id, notes.as_deref()).await?;
    audit::record(
        &mut tx,
        &user,
        "order.updated",
        ("order", id),
        Some(&json!({"notes": before.notes})),
        Some(&json!({"notes": notes})),
    )
    .await?;
    let order = load_visible(&mut *tx, &user, id).await?;
    tx.commit().await?;
    state.cache.invalidate(Entity::Order, &[id]).await;
    Ok(Json(order))
}

/// Deletes an order and its items (admin). The audit row keeps a full copy.
#[utoipa::path(delete, path = "/api/v1/orders/{id}", tag = "orders",
    params(("id" = i64, Path, description = "Order id")),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
    ))]
pub async fn delete_order(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode> {
    user.require_admin()?;
    let mut tx = state.db.begin().await?;
    db::orders::lock(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Order"))?;
    let before = load_visible(&mut *tx, &user, id).await?;
    db::orders::delete(&mut *tx, id).await?;
    audit::record(
        &mut tx,
        &user,
        "order.deleted",
        ("order", id),
        Some(&before),
        None,
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate(Entity::Order, &[id]).await;
    tracing::info!(order_id = id, "order deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(body: Value) -> std::result::Result<Option<String>, String> {
        parse_notes_patch(body.as_object().unwrap()).map_err(|e| match e {
            ApiError::Validation { errors, .. } => errors[0].field.clone(),
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn only_notes_may_be_patched() {
        assert_eq!(fields(json!({"notes": " hi "})), Ok(Some("hi".into())));
        assert_eq!(fields(json!({"notes": null})), Ok(None));
        assert_eq!(fields(json!({"notes": ""})), Ok(None));
        for field in [
            "id",
            "customer_id",
            "status",
            "total",
            "items",
            "created_at",
        ] {
            assert_eq!(
                fields(json!({"notes": "x", field: 1})),
                Err(field.to_string())
            );
        }
        assert_eq!(fields(json!({"colour": "red"})), Err("colour".into()));
        assert_eq!(fields(json!({})), Err("notes".into()));
        assert_eq!(fields(json!({"notes": 5})), Err("notes".into()));
        assert_eq!(
            fields(json!({"notes": "n".repeat(501)})),
            Err("notes".into())
        );
    }
}
