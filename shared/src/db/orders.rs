//! SQL for `orders` and `order_items`. Reads take a fixed number of statements whatever the
//! number of orders or items: one for the orders (joined with the customer), one for all their
//! items, one count for pages.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection, PgExecutor, Postgres, QueryBuilder};

use crate::domain::{
    OrderStatus,
    order::{PricedLine, ProductSnapshot},
    paging::Page,
};

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

#[derive(Debug, Clone, FromRow)]
pub struct ItemRow {
    pub id: i64,
    pub order_id: i64,
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i32,
    pub unit_price: Decimal,
}

const SELECT_ORDER: &str = "SELECT o.id, o.customer_id, c.name AS customer_name, o.status, \
     o.total, o.notes, o.created_at, o.updated_at FROM orders o JOIN customers c ON c.id = o.customer_id";

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

/// Active state, name and price of the given products, locked against change (`FOR SHARE`)
/// until the order transaction ends.
pub async fn product_snapshots(
    db: &mut PgConnection,
    ids: &[i64],
) -> sqlx::Result<Vec<ProductSnapshot>> {
    let rows: Vec<(i64, String, Decimal, bool)> = sqlx::query_as(
        "SELECT id, name, price, is_active FROM products WHERE id = ANY($1) FOR SHARE",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, price, is_active)| ProductSnapshot {
            id,
            name,
            price,
            is_active,
        })
        .collect())
}

/// Inserts the order and all its lines (one statement each).
pub async fn insert(
    db: &mut PgConnection,
    customer_id: i64,
    total: Decimal,
    notes: Option<&str>,
    lines: &[PricedLine],
) -> sqlx::Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO orders (customer_id, total, notes) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(customer_id)
    .bind(total)
    .bind(notes)
    .fetch_one(&mut *db)
    .await?;
    let product_ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
    let names: Vec<&str> = lines.iter().map(|l| l.product_name.as_str()).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let prices: Vec<Decimal> = lines.iter().map(|l| l.unit_price).collect();
    sqlx::query(
        "INSERT INTO order_items (order_id, product_id, product_name, quantity, unit_price) \
         SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::int[], $5::numeric[])",
    )
    .bind(id)
    .bind(&product_ids)
    .bind(&names)
    .bind(&quantities)
    .bind(&prices)
    .execute(&mut *db)
    .await?;
    Ok(id)
}

pub async fn get(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ORDER} WHERE o.id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The order and its customer's email address (for the worker's emails).
pub async fn get_with_email(
    db: impl PgExecutor<'_>,
    id: i64,
) -> sqlx::Result<Option<(OrderRow, String)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        order: OrderRow,
        customer_email: String,
    }
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} , c.email AS customer_email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1",
        SELECT_ORDER.split(" FROM ").next().expect("select list")
    )))
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.order, r.customer_email)))
}

/// Cancels the order if it is still pending; true when it did.
pub async fn cancel_if_pending(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<bool> {
    update_status(db, id, OrderStatus::Pending, OrderStatus::Cancelled).await
}

/// Locks the order row for the rest of the transaction.
pub async fn get_for_update(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ORDER} WHERE o.id = $1 FOR UPDATE OF o"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Every item of the given orders, in one statement.
pub async fn items_of(db: impl PgExecutor<'_>, order_ids: &[i64]) -> sqlx::Result<Vec<ItemRow>> {
    sqlx::query_as(
        "SELECT id, order_id, product_id, product_name, quantity, unit_price FROM order_items \
         WHERE order_id = ANY($1) ORDER BY order_id, id",
    )
    .bind(order_ids)
    .fetch_all(db)
    .await
}

fn push_filter(qb: &mut QueryBuilder<Postgres>, f: &OrderFilter) {
    qb.push(" WHERE TRUE");
    if let Some(status) = f.status {
        qb.push(" AND o.status = ").push_bind(status.as_str());
    }
    if let Some(customer_id) = f.customer_id {
        qb.push(" AND o.customer_id = ").push_bind(customer_id);
    }
    if let Some(from) = f.created_from {
        qb.push(" AND o.created_at >= ").push_bind(from);
    }
    if let Some(to) = f.created_to {
        qb.push(" AND o.created_at < ").push_bind(to);
    }
    if let Some(min) = f.min_total {
        qb.push(" AND o.total >= ").push_bind(min);
    }
    if let Some(max) = f.max_total {
        qb.push(" AND o.total <= ").push_bind(max);
    }
}

/// One page of orders and the total count. Only the filters given appear in the SQL, so each
/// combination gets its own plan (and can use its index).
pub async fn list(
    db: &mut PgConnection,
    filter: &OrderFilter,
    sort: OrderSort,
    page: Page,
) -> sqlx::Result<(Vec<OrderRow>, i64)> {
    let mut qb = QueryBuilder::new(SELECT_ORDER);
    push_filter(&mut qb, filter);
    qb.push(" ORDER BY ")
        .push(sort.sql())
        .push(" LIMIT ")
        .push_bind(page.limit())
        .push(" OFFSET ")
        .push_bind(page.offset());
    let rows = qb.build_query_as::<OrderRow>().fetch_all(&mut *db).await?;

    let mut count = QueryBuilder::new("SELECT count(*) FROM orders o");
    push_filter(&mut count, filter);
    let total = count
        .build_query_scalar::<i64>()
        .fetch_one(&mut *db)
        .await?;
    Ok((rows, total))
}

/// Moves the order from `expected` to `next` only if it is still in `expected`: of two racing
/// transitions from the same state, exactly one updates a row.
pub async fn update_status(
    db: impl PgExecutor<'_>,
    id: i64,
    expected: OrderStatus,
    next: OrderStatus,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE orders SET status = $3, updated_at = now() WHERE id = $1 AND status = $2",
    )
    .bind(id)
    .bind(expected.as_str())
    .bind(next.as_str())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
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

pub async fn delete(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM orders WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

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
