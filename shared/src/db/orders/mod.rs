//! SQL for `orders` and `order_items`. Every read is one statement whatever the number of
//! orders or items (`read`); creating an order is one read and one write statement, with one
//! commit (`place`); the staff summary is one aggregate statement per part (`summary`).

mod place;
mod read;
mod summary;

pub use place::{NewOrder, PLACE_SQL, PREPARE_SQL, Placement, Prepared, place, prepare};
pub use read::{
    Addressee, FOR_EMAIL_SQL, GET_SQL, OrderWithItems, TotalBy, for_email, get_with_items, list,
    list_query, sort_key,
};
pub use summary::{
    ProductTotals, StatusTotals, summary_args, top_products, top_products_sql, totals_by_status,
    totals_by_status_sql,
};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgExecutor};

use crate::domain::OrderStatus;

#[derive(Debug, Clone, FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub customer_id: i64,
    pub customer_name: String,
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    pub total: Decimal,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    pub id: i64,
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i32,
    pub unit_price: Decimal,
}

/// Sort orders a client may ask for; each maps to an indexed ORDER BY with `id` as tiebreak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderSort {
    CreatedAt,
    #[default]
    CreatedAtDesc,
    Total,
    TotalDesc,
    Id,
}

impl OrderSort {
    /// Every value `parse` accepts (the OpenAPI enum of `sort`).
    pub const NAMES: [&str; 5] = ["created_at", "-created_at", "total", "-total", "id"];

    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "created_at" => Self::CreatedAt,
            "-created_at" => Self::CreatedAtDesc,
            "total" => Self::Total,
            "-total" => Self::TotalDesc,
            "id" => Self::Id,
            _ => return Err("must be one of created_at, -created_at, total, -total, id".into()),
        })
    }

    fn sql(self) -> &'static str {
        match self {
            Self::CreatedAt => "o.created_at ASC, o.id ASC",
            Self::CreatedAtDesc => "o.created_at DESC, o.id DESC",
            Self::Total => "o.total ASC, o.id ASC",
            Self::TotalDesc => "o.total DESC, o.id DESC",
            Self::Id => "o.id ASC",
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub customer_id: Option<i64>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub min_total: Option<Decimal>,
    pub max_total: Option<Decimal>,
}

/// The parts of an order its changes check: who owns it, where it stands, its notes.
#[derive(Debug, Clone, FromRow)]
pub struct OrderState {
    pub customer_id: i64,
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    pub notes: Option<String>,
}

/// The order's state as of now, without locking it (a status change then updates only if the
/// status is still the one read: see `update_status`).
pub async fn state(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<OrderState>> {
    sqlx::query_as("SELECT customer_id, status, notes FROM orders WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The order's state, locking the row for the rest of the transaction.
pub async fn lock(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<OrderState>> {
    sqlx::query_as("SELECT customer_id, status, notes FROM orders WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Cancels the order if it is still pending; true when it did.
pub async fn cancel_if_pending(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<bool> {
    update_status(db, id, OrderStatus::Pending, OrderStatus::Cancelled).await
}

/// Moves the order from `expected` to `next` only if it is still in `expected`: of two racing
/// transitions from the same state, exactly one updates a row. The same statement appends the
/// move to the summary's deltas (`db::stats`) — the order leaves one status for the other,
/// and a cancelled order's items leave the product totals — and moves its count.
pub async fn update_status(
    db: impl PgExecutor<'_>,
    id: i64,
    expected: OrderStatus,
    next: OrderStatus,
) -> sqlx::Result<bool> {
    let moved: i64 = sqlx::query_scalar(
        "WITH moved AS ( \
           UPDATE orders SET status = $3, updated_at = now() WHERE id = $1 AND status = $2 \
           RETURNING created_at, total), \
         order_stats AS ( \
           INSERT INTO order_stats_deltas (hour, status, orders, revenue) \
           SELECT date_trunc('hour', m.created_at, 'UTC'), s.status, s.sign, s.sign * m.total \
           FROM moved m, (VALUES ($2::text, -1), ($3::text, 1)) AS s(status, sign)), \
         product_stats AS ( \
           INSERT INTO product_stats_deltas (hour, product_id, quantity, revenue) \
           SELECT date_trunc('hour', m.created_at, 'UTC'), i.product_id, -i.quantity, \
             -(i.quantity * i.unit_price) \
           FROM moved m JOIN order_items i ON i.order_id = $1 WHERE $3 = 'cancelled'), \
         counts AS ( \
           INSERT INTO order_status_counts AS c (status, stripe, orders) \
           SELECT s.status, pg_backend_pid() % 16, s.sign \
           FROM moved, (VALUES ($2::text, -1), ($3::text, 1)) AS s(status, sign) ORDER BY 1 \
           ON CONFLICT (status, stripe) DO UPDATE SET orders = c.orders + EXCLUDED.orders) \
         SELECT count(*) FROM moved",
    )
    .bind(id)
    .bind(expected.as_str())
    .bind(next.as_str())
    .fetch_one(db)
    .await?;
    Ok(moved == 1)
}

pub async fn update_notes(
    db: impl PgExecutor<'_>,
    id: i64,
    notes: Option<&str>,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE orders SET notes = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(notes)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the order (its items go with it) and takes it out of the summary's rollups and the
/// counts in the same statement.
pub async fn delete(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<bool> {
    let gone: i64 = sqlx::query_scalar(
        "WITH gone AS (DELETE FROM orders WHERE id = $1 RETURNING created_at, status, total), \
         order_stats AS ( \
           INSERT INTO order_stats_deltas (hour, status, orders, revenue) \
           SELECT date_trunc('hour', created_at, 'UTC'), status, -1, -total FROM gone), \
         product_stats AS ( \
           INSERT INTO product_stats_deltas (hour, product_id, quantity, revenue) \
           SELECT date_trunc('hour', g.created_at, 'UTC'), i.product_id, -i.quantity, \
             -(i.quantity * i.unit_price) \
           FROM gone g JOIN order_items i ON i.order_id = $1 WHERE g.status <> 'cancelled'), \
         counts AS ( \
           INSERT INTO order_status_counts AS c (status, stripe, orders) \
           SELECT status, pg_backend_pid() % 16, -1 FROM gone \
           ON CONFLICT (status, stripe) DO UPDATE SET orders = c.orders - 1) \
         SELECT count(*) FROM gone",
    )
    .bind(id)
    .fetch_one(db)
    .await?;
    Ok(gone == 1)
}

/// Ids of a customer's orders (their cached copies show the customer's name).
pub async fn ids_of_customer(db: impl PgExecutor<'_>, customer_id: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("SELECT id FROM orders WHERE customer_id = $1")
        .bind(customer_id)
        .fetch_all(db)
        .await
}
