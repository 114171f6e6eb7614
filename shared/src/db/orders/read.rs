//! Reading orders with their items: one statement each, one row per item (the order's columns
//! repeated), folded back into orders here.

use rust_decimal::Decimal;
use sqlx::{PgExecutor, Postgres, QueryBuilder, Row, postgres::PgRow};

use super::{ItemRow, OrderFilter, OrderRow, OrderSort};
use crate::{domain::OrderStatus, domain::paging::Page};

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

/// The list statement: the filtered count, and the page's orders with their customers and
/// items, in one round trip. Only the filters given appear in the SQL, so each combination is
/// planned on its own (and can use its index). The count comes back on every row, and on a
/// single all-NULL row when the page is empty.
pub fn list_query(filter: &OrderFilter, sort: OrderSort, page: Page) -> QueryBuilder<Postgres> {
    let mut qb = QueryBuilder::new(
        "SELECT t.total_count, p.* FROM (SELECT count(*) AS total_count FROM orders o",
    );
    push_filter(&mut qb, filter);
    qb.push(") t LEFT JOIN LATERAL (SELECT ")
        .push(ORDER_COLUMNS)
        .push(", ")
        .push(ITEM_COLUMNS)
        .push(" FROM (SELECT * FROM orders o");
    push_filter(&mut qb, filter);
    qb.push(" ORDER BY ")
        .push(sort.sql())
        .push(" LIMIT ")
        .push_bind(page.limit())
        .push(" OFFSET ")
        .push_bind(page.offset())
        .push(") o JOIN customers c ON c.id = o.customer_id")
        .push(" LEFT JOIN order_items i ON i.order_id = o.id) p ON TRUE ORDER BY ")
        .push(sort.sql().replace("o.", "p."))
        .push(", p.item_id");
    qb
}

/// One page of orders with their items, and the total count: one statement.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &OrderFilter,
    sort: OrderSort,
    page: Page,
) -> sqlx::Result<(Vec<OrderWithItems>, i64)> {
    let rows = list_query(filter, sort, page).build().fetch_all(db).await?;
    let total = match rows.first() {
        Some(row) => row.try_get("total_count")?,
        None => 0,
    };
    let with_order: Vec<PgRow> = rows
        .into_iter()
        .filter(|r| matches!(r.try_get::<Option<i64>, _>("id"), Ok(Some(_))))
        .collect();
    Ok((fold(&with_order)?, total))
}
