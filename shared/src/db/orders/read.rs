//! Reading orders with their items: one statement each, one row per item (the order's columns
//! repeated), folded back into orders here.

use rust_decimal::Decimal;
use sqlx::{PgExecutor, Postgres, QueryBuilder, Row, postgres::PgRow};

use super::{ItemRow, OrderFilter, OrderRow, OrderSort};
use crate::domain::{
    OrderStatus,
    paging::{COUNT_BOUND, KeyValue, Page, Total},
};

/// An order and its items, in item id order.
#[derive(Debug, Clone)]
pub struct OrderWithItems {
    pub order: OrderRow,
    pub items: Vec<ItemRow>,
}

const ORDER_COLUMNS: &str = "o.id, o.customer_id, c.name AS customer_name, o.status, \
     o.total, o.notes, o.created_at, o.updated_at";
const ITEM_COLUMNS: &str = "i.id AS item_id, i.product_id, i.product_name, i.quantity, \
     i.unit_price";

/// One order with its customer's name and its items. `$2` restricts it to one customer's
/// orders (a customer reading; NULL for staff), so authorisation costs no extra round trip.
pub const GET_SQL: &str = "SELECT o.id, o.customer_id, c.name AS customer_name, o.status, \
     o.total, o.notes, o.created_at, o.updated_at, \
     i.id AS item_id, i.product_id, i.product_name, i.quantity, i.unit_price \
     FROM orders o JOIN customers c ON c.id = o.customer_id \
     LEFT JOIN order_items i ON i.order_id = o.id \
     WHERE o.id = $1 AND ($2::bigint IS NULL OR o.customer_id = $2) ORDER BY i.id";

/// What the worker's emails show: the order, its items and the customer's address.
pub const FOR_EMAIL_SQL: &str = "SELECT o.id, o.customer_id, c.name AS customer_name, \
     o.status, o.total, o.notes, o.created_at, o.updated_at, c.email AS customer_email, \
     NOT EXISTS (SELECT 1 FROM users u WHERE u.customer_id = c.id \
       AND u.email_verified_at IS NULL) AS address_verified, \
     i.id AS item_id, i.product_id, i.product_name, i.quantity, i.unit_price \
     FROM orders o JOIN customers c ON c.id = o.customer_id \
     LEFT JOIN order_items i ON i.order_id = o.id WHERE o.id = $1 ORDER BY i.id";

fn order_of(row: &PgRow) -> sqlx::Result<OrderRow> {
    let status: String = row.try_get("status")?;
    Ok(OrderRow {
        id: row.try_get("id")?,
        customer_id: row.try_get("customer_id")?,
        customer_name: row.try_get("customer_name")?,
        status: OrderStatus::try_from(status).map_err(|e| sqlx::Error::Decode(e.into()))?,
        total: row.try_get("total")?,
        notes: row.try_get("notes")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn item_of(row: &PgRow) -> sqlx::Result<Option<ItemRow>> {
    let Some(id) = row.try_get::<Option<i64>, _>("item_id")? else {
        return Ok(None);
    };
    Ok(Some(ItemRow {
        id,
        product_id: row.try_get("product_id")?,
        product_name: row.try_get("product_name")?,
        quantity: row.try_get("quantity")?,
        unit_price: row.try_get::<Decimal, _>("unit_price")?,
    }))
}

/// Folds one-row-per-item results (rows of one order adjacent) into orders.
fn fold(rows: &[PgRow]) -> sqlx::Result<Vec<OrderWithItems>> {
    let mut orders: Vec<OrderWithItems> = Vec::new();
    for row in rows {
        let id: i64 = row.try_get("id")?;
        if orders.last().is_none_or(|o| o.order.id != id) {
            orders.push(OrderWithItems {
                order: order_of(row)?,
                items: Vec::new(),
            });
        }
        if let Some(item) = item_of(row)? {
            orders.last_mut().expect("just pushed").items.push(item);
        }
    }
    Ok(orders)
}

/// The order if it exists and, when `only_customer` is given, belongs to that customer.
pub async fn get_with_items(
    db: impl PgExecutor<'_>,
    id: i64,
    only_customer: Option<i64>,
) -> sqlx::Result<Option<OrderWithItems>> {
    let rows = sqlx::query(GET_SQL)
        .bind(id)
        .bind(only_customer)
        .fetch_all(db)
        .await?;
    Ok(fold(&rows)?.pop())
}

/// Where an order email goes.
#[derive(Debug, Clone)]
pub struct Addressee {
    pub email: String,
    /// False while the customer's user has not verified the address (a self-registration):
    /// no order email goes to it then.
    pub verified: bool,
}

/// The order with its items and the customer's email address (for the worker's emails).
pub async fn for_email(
    db: impl PgExecutor<'_>,
    id: i64,
) -> sqlx::Result<Option<(OrderWithItems, Addressee)>> {
    let rows = sqlx::query(FOR_EMAIL_SQL).bind(id).fetch_all(db).await?;
    let to = match rows.first() {
        Some(row) => Addressee {
            email: row.try_get("customer_email")?,
            verified: row.try_get("address_verified")?,
        },
        None => return Ok(None),
    };
    Ok(fold(&rows)?.pop().map(|order| (order, to)))
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

/// How a list's total is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotalBy {
    /// From the counts per status the writes keep (`db::stats`): exact, a few rows. Only for
    /// lists filtered by status alone (or not at all), across every customer.
    StatusCounts,
    /// Counting matching rows up to `COUNT_BOUND + 1`.
    Bounded,
}

impl TotalBy {
    /// The exact counts when the filter allows them.
    pub fn for_filter(filter: &OrderFilter) -> Self {
        let only_status = filter.customer_id.is_none()
            && filter.created_from.is_none()
            && filter.created_to.is_none()
            && filter.min_total.is_none()
            && filter.max_total.is_none();
        if only_status {
            Self::StatusCounts
        } else {
            Self::Bounded
        }
    }
}

/// The sort key of an order in `sort`: what a cursor after it holds.
pub fn sort_key(order: &OrderRow, sort: OrderSort) -> Vec<KeyValue> {
    let id = KeyValue::Int(order.id);
    match sort {
        OrderSort::CreatedAt | OrderSort::CreatedAtDesc => {
            vec![KeyValue::time(order.created_at), id]
        }
        OrderSort::Total | OrderSort::TotalDesc => {
            vec![KeyValue::Text(order.total.normalize().to_string()), id]
        }
        OrderSort::Id => vec![id],
    }
}

/// Only the rows after the cursor's, in the order of `sort` (the index's order: a keyset
/// page reads `page_size + 1` index entries at any depth).
fn push_after(qb: &mut QueryBuilder<Postgres>, sort: OrderSort, after: &[KeyValue]) {
    let (value, id) = match after {
        [KeyValue::Text(value), KeyValue::Int(id)] => (value.clone(), *id),
        [KeyValue::Int(id)] => (String::new(), *id),
        // A cursor is signed for this list and sort: no other shape reaches here.
        _ => return,
    };
    match sort {
        OrderSort::CreatedAtDesc => {
            qb.push(" AND (o.created_at, o.id) < (")
                .push_bind(value)
                .push("::timestamptz, ")
                .push_bind(id)
                .push(")");
        }
        OrderSort::CreatedAt => {
            qb.push(" AND (o.created_at, o.id) > (")
                .push_bind(value)
                .push("::timestamptz, ")
                .push_bind(id)
                .push(")");
        }
        OrderSort::TotalDesc => {
            qb.push(" AND (o.total, o.id) < (")
                .push_bind(value)
                .push("::numeric, ")
                .push_bind(id)
                .push(")");
        }
        OrderSort::Total => {
            qb.push(" AND (o.total, o.id) > (")
                .push_bind(value)
                .push("::numeric, ")
                .push_bind(id)
                .push(")");
        }
        OrderSort::Id => {
            qb.push(" AND o.id > ").push_bind(id);
        }
    }
}

/// The list statement: the total, and the page's orders (one more than shown) with their
/// customers and items, in one round trip. Only the filters given appear in the SQL, so each
/// combination is planned on its own (and can use its index); the plan tests
/// (`api/tests/api/plans.rs`) check every shape. The total comes back on every row, and on a
/// single all-NULL row when the page is empty.
pub fn list_query(
    filter: &OrderFilter,
    sort: OrderSort,
    page: &Page,
    total: TotalBy,
) -> QueryBuilder<Postgres> {
    let mut qb = QueryBuilder::new("SELECT t.total_count, p.* FROM (SELECT (");
    match total {
        TotalBy::StatusCounts => {
            let status = filter.status.map(OrderStatus::as_str);
            qb.push(
                "SELECT COALESCE(sum(orders), 0) FROM order_status_counts WHERE status = COALESCE(",
            )
            .push_bind(status)
            .push("::text, status)");
        }
        TotalBy::Bounded => {
            // In the page's order: the count walks the page's index, and stops.
            qb.push("SELECT count(*) FROM (SELECT 1 FROM orders o");
            push_filter(&mut qb, filter);
            qb.push(" ORDER BY ")
                .push(sort.sql())
                .push(format!(" LIMIT {}", COUNT_BOUND + 1))
                .push(") counted");
        }
    }
    qb.push(")::bigint AS total_count) t LEFT JOIN LATERAL (SELECT ")
        .push(ORDER_COLUMNS)
        .push(", ")
        .push(ITEM_COLUMNS)
        .push(" FROM (SELECT * FROM orders o");
    push_filter(&mut qb, filter);
    if let Some(after) = page.after() {
        push_after(&mut qb, sort, after);
    }
    // LIMIT and OFFSET are literals (validated integers), not parameters: with a parameter
    // there, PostgreSQL cannot cost a generic plan and plans the statement again at every
    // execution (measured: 0.6 ms of planning for a page that takes 0.3 ms to read).
    qb.push(" ORDER BY ")
        .push(sort.sql())
        .push(format!(" LIMIT {}", page.limit()));
    if page.offset() > 0 {
        qb.push(format!(" OFFSET {}", page.offset()));
    }
    qb.push(") o JOIN customers c ON c.id = o.customer_id")
        .push(" LEFT JOIN order_items i ON i.order_id = o.id) p ON TRUE ORDER BY ")
        .push(sort.sql().replace("o.", "p."))
        .push(", p.item_id");
    qb
}

/// One page of orders (one more than shown) with their items, and the total: one statement.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &OrderFilter,
    sort: OrderSort,
    page: &Page,
) -> sqlx::Result<(Vec<OrderWithItems>, Total)> {
    let by = TotalBy::for_filter(filter);
    let rows = list_query(filter, sort, page, by)
        .build()
        .fetch_all(db)
        .await?;
    let counted: i64 = match rows.first() {
        Some(row) => row.try_get("total_count")?,
        None => 0,
    };
    let total = match by {
        TotalBy::StatusCounts => Total::exact(counted),
        TotalBy::Bounded => Total::bounded(counted),
    };
    let with_order: Vec<PgRow> = rows
        .into_iter()
        .filter(|r| matches!(r.try_get::<Option<i64>, _>("id"), Ok(Some(_))))
        .collect();
    Ok((fold(&with_order)?, total))
}
