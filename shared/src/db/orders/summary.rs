//! The staff summary: one aggregate statement per part.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgExecutor};

use crate::domain::OrderStatus;

#[derive(Debug, Clone, FromRow)]
pub struct StatusTotals {
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    pub count: i64,
    pub revenue: Decimal,
}

#[derive(Debug, Clone, FromRow)]
pub struct ProductTotals {
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i64,
    pub revenue: Decimal,
}

/// Order count and revenue per status in `[from, to)`: one aggregate statement.
pub async fn totals_by_status(
    db: impl PgExecutor<'_>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> sqlx::Result<Vec<StatusTotals>> {
    sqlx::query_as(
        "SELECT status, count(*) AS count, COALESCE(sum(total), 0) AS revenue FROM orders \
         WHERE created_at >= COALESCE($1, '-infinity') AND created_at < COALESCE($2, 'infinity') \
         GROUP BY status",
    )
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await
}

/// The ten products sold in the largest quantities in `[from, to)`, cancelled orders excluded:
/// one aggregate statement.
pub async fn top_products(
    db: impl PgExecutor<'_>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> sqlx::Result<Vec<ProductTotals>> {
    sqlx::query_as(
        "SELECT i.product_id, p.name AS product_name, sum(i.quantity)::bigint AS quantity, \
         sum(i.quantity * i.unit_price) AS revenue \
         FROM order_items i JOIN orders o ON o.id = i.order_id JOIN products p ON p.id = i.product_id \
         WHERE o.status <> 'cancelled' \
         AND o.created_at >= COALESCE($1, '-infinity') AND o.created_at < COALESCE($2, 'infinity') \
         GROUP BY i.product_id, p.name ORDER BY quantity DESC, i.product_id LIMIT 10",
    )
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await
}
