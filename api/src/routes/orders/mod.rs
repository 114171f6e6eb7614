//! `/api/v1/orders`: creation (with Idempotency-Key), reads, status transitions, notes, delete.

mod change;
mod create;
mod read;

use chrono::{DateTime, Utc};
use orderflow_shared::{
    db::orders::{ItemRow, OrderRow},
    domain::{OrderStatus, money::to_cents},
};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create_order, read::list_orders))
        .routes(routes!(read::order_summary))
        .routes(routes!(
            read::get_order,
            change::update_order,
            change::delete_order
        ))
        .routes(routes!(change::change_status))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderItemResponse {
    #[schema(example = 11)]
    pub id: i64,
    #[schema(example = 3)]
    pub product_id: i64,
    /// The product's name when the order was placed.
    #[schema(example = "Mechanical keyboard")]
    pub product_name: String,
    #[schema(example = 2)]
    pub quantity: i32,
    /// The product's price when the order was placed.
    #[schema(value_type = String, example = "89.90")]
    pub unit_price: Decimal,
    #[schema(value_type = String, example = "179.80")]
    pub line_total: Decimal,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderResponse {
    #[schema(example = 42)]
    pub id: i64,
    #[schema(example = 7)]
    pub customer_id: i64,
    #[schema(example = "Ada Lovelace")]
    pub customer_name: String,
    pub status: OrderStatus,
    /// Σ unit_price × quantity, exact.
    #[schema(value_type = String, example = "179.80")]
    pub total: Decimal,
    pub notes: Option<String>,
    pub items: Vec<OrderItemResponse>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Joins order rows with their items (fetched in one statement) into responses.
pub fn assemble(orders: Vec<OrderRow>, items: Vec<ItemRow>) -> Vec<OrderResponse> {
    let mut by_order: HashMap<i64, Vec<OrderItemResponse>> = HashMap::new();
    for item in items {
        by_order
            .entry(item.order_id)
            .or_default()
            .push(OrderItemResponse {
                id: item.id,
                product_id: item.product_id,
                product_name: item.product_name,
                quantity: item.quantity,
                line_total: to_cents(item.unit_price * Decimal::from(item.quantity)),
                unit_price: to_cents(item.unit_price),
            });
    }
    orders
        .into_iter()
        .map(|o| OrderResponse {
            items: by_order.remove(&o.id).unwrap_or_default(),
            id: o.id,
            customer_id: o.customer_id,
            customer_name: o.customer_name,
            status: o.status,
            total: to_cents(o.total),
            notes: o.notes,
            created_at: o.created_at,
            updated_at: o.updated_at,
        })
        .collect()
}

/// Loads one order with its items (two statements) if `user` may see it.
pub async fn load_visible(
    db: &mut sqlx::PgConnection,
    user: &crate::auth::CurrentUser,
    id: i64,
) -> crate::error::Result<OrderResponse> {
    use orderflow_shared::db::orders;
    let order = orders::get(&mut *db, id)
        .await?
        .filter(|o| user.can_see_customer(o.customer_id))
        .ok_or_else(|| crate::error::ApiError::not_found("Order"))?;
    let items = orders::items_of(&mut *db, &[order.id]).await?;
    Ok(assemble(vec![order], items).remove(0))
}
