//! `/api/v1/orders`: creation (with Idempotency-Key), reads, status transitions, notes, delete.

mod change;
mod create;
mod read;

use chrono::{DateTime, Utc};
use orderflow_shared::{
    db::orders::{ItemRow, OrderWithItems},
    domain::{OrderStatus, money::to_cents},
};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

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

impl From<ItemRow> for OrderItemResponse {
    fn from(item: ItemRow) -> Self {
        Self {
            id: item.id,
            product_id: item.product_id,
            product_name: item.product_name,
            quantity: item.quantity,
            line_total: to_cents(item.unit_price * Decimal::from(item.quantity)),
            unit_price: to_cents(item.unit_price),
        }
    }
}

impl From<OrderWithItems> for OrderResponse {
    fn from(OrderWithItems { order: o, items }: OrderWithItems) -> Self {
        Self {
            id: o.id,
            customer_id: o.customer_id,
            customer_name: o.customer_name,
            status: o.status,
            total: to_cents(o.total),
            notes: o.notes,
            items: items.into_iter().map(Into::into).collect(),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

/// Loads one order with its items (one statement) if `user` may see it: customers only
/// their own, and others' orders are "not found".
pub async fn load_visible(
    db: impl sqlx::PgExecutor<'_>,
    user: &crate::auth::CurrentUser,
    id: i64,
) -> crate::error::Result<OrderResponse> {
    orderflow_shared::db::orders::get_with_items(db, id, user.read_scope())
        .await?
        .map(OrderResponse::from)
        .ok_or_else(|| crate::error::ApiError::not_found("Order"))
}
