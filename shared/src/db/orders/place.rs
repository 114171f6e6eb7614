//! Placing an order in two round trips and one commit:
//!
//! 1. `prepare` (a read, no commit to wait for): the customer, the products' names, prices and
//!    active flags, a live stored response for the Idempotency-Key if there is one, and the
//!    ids and timestamp the new order will have. The caller validates and prices with the
//!    domain rules and builds the response from these.
//! 2. `place` (one statement, so one implicit transaction and one WAL flush): takes the key's
//!    in-flight lock, stores the key with the response, and inserts the order, its items, its
//!    outbox rows, its deltas for the summary's rollups and its count (`db::stats`); nothing at all when
//!    the key is in flight or was just taken.
//!
//! No lock is held between the two: the order is priced from the products as they were at
//! step 1, exactly as if the whole request had run then. A product deactivated or repriced
//! in between does not affect an order whose read came first, the same as with any commit
//! order. Ids come from the tables' own sequences, so pre-allocating them is safe with any
//! number of API instances (an abandoned request leaves a gap, as a rollback would).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::{FromRow, PgExecutor};

use crate::{
    db::idempotency::StoredResponse,
    domain::order::{PricedLine, ProductSnapshot},
    jobs::JobKind,
};

/// Everything step 2 and the response need, read in one statement.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The customer's name and whether it is active; `None` when it does not exist.
    pub customer: Option<(String, bool)>,
    pub products: Vec<ProductSnapshot>,
    /// The response stored under the request's Idempotency-Key, if live.
    pub stored: Option<StoredResponse>,
    pub order_id: i64,
    /// One per line, in line order.
    pub item_ids: Vec<i64>,
    /// The order's `created_at` (the database clock).
    pub at: DateTime<Utc>,
}

pub const PREPARE_SQL: &str = "SELECT c.name AS customer_name, c.is_active AS customer_active, \
     p.ids, p.names, p.prices, p.actives, \
     k.request_hash, k.status_code, k.response_body, k.location, \
     nextval('orders_id_seq') AS order_id, \
     ARRAY(SELECT nextval('order_items_id_seq') FROM generate_series(1, cardinality($2::bigint[]))) AS item_ids, \
     now() AS at \
     FROM (SELECT 1) AS one \
     LEFT JOIN customers c ON c.id = $1 \
     LEFT JOIN LATERAL (SELECT array_agg(id) AS ids, array_agg(name) AS names, \
       array_agg(price) AS prices, array_agg(is_active) AS actives \
       FROM products WHERE id = ANY($2)) p ON TRUE \
     LEFT JOIN idempotency_keys k ON k.user_id = $3 AND k.key = $4 AND k.expires_at > now()";

#[derive(FromRow)]
struct PreparedRow {
    customer_name: Option<String>,
    customer_active: Option<bool>,
    ids: Option<Vec<i64>>,
    names: Option<Vec<String>>,
    prices: Option<Vec<Decimal>>,
    actives: Option<Vec<bool>>,
    request_hash: Option<Vec<u8>>,
    status_code: Option<i16>,
    response_body: Option<Value>,
    location: Option<String>,
    order_id: i64,
    item_ids: Vec<i64>,
    at: DateTime<Utc>,
}

/// Step 1. `product_ids` are the order's distinct products, one per line.
pub async fn prepare(
    db: impl PgExecutor<'_>,
    customer_id: i64,
    product_ids: &[i64],
    user_id: i64,
    key: Option<&str>,
) -> sqlx::Result<Prepared> {
    let row: PreparedRow = sqlx::query_as(PREPARE_SQL)
        .bind(customer_id)
        .bind(product_ids)
        .bind(user_id)
        .bind(key)
        .fetch_one(db)
        .await?;
    let products = match (row.ids, row.names, row.prices, row.actives) {
        (Some(ids), Some(names), Some(prices), Some(actives)) => ids
            .into_iter()
            .zip(names)
            .zip(prices)
            .zip(actives)
            .map(|(((id, name), price), is_active)| ProductSnapshot {
                id,
                name,
                price,
                is_active,
            })
            .collect(),
        _ => Vec::new(),
    };
    let stored = match (row.request_hash, row.status_code, row.response_body) {
        (Some(request_hash), Some(status_code), Some(response_body)) => Some(StoredResponse {
            request_hash,
            status_code,
            response_body,
            location: row.location,
        }),
        _ => None,
    };
    Ok(Prepared {
        customer: row.customer_name.zip(row.customer_active),
        products,
        stored,
        order_id: row.order_id,
        item_ids: row.item_ids,
        at: row.at,
    })
}

/// Step 2's input: the priced order, its response, its jobs.
#[derive(Debug)]
pub struct NewOrder<'a> {
    pub user_id: i64,
    pub key: Option<&'a str>,
    pub request_hash: &'a [u8],
    /// The 201 body, stored with the key for replays.
    pub response_body: &'a Value,
    pub location: &'a str,
    pub key_ttl_seconds: i64,
    pub order_id: i64,
    pub customer_id: i64,
    pub total: Decimal,
    pub notes: Option<&'a str>,
    pub at: DateTime<Utc>,
    pub item_ids: &'a [i64],
    pub lines: &'a [PricedLine],
    /// Outbox rows: kind, payload, due time.
    pub jobs: &'a [(JobKind, Value, DateTime<Utc>)],
}

/// What step 2 did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Placed,
    /// Another request with the same key holds its lock right now.
    KeyInFlight,
    /// A request with the same key committed since step 1: read its stored response.
    KeyTaken,
}

pub const PLACE_SQL: &str = "WITH lock AS ( \
       SELECT CASE WHEN $2::text IS NULL THEN TRUE \
              ELSE pg_try_advisory_xact_lock(hashtextextended($1::bigint::text || ':' || $2::text, 0)) END AS ok), \
     claimed AS ( \
       INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response_body, location, expires_at) \
       SELECT $1, $2::text, $3, 201, $4, $5, $6::timestamptz + make_interval(secs => $7) \
       FROM lock WHERE ok AND $2::text IS NOT NULL \
       ON CONFLICT (user_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, \
         status_code = EXCLUDED.status_code, response_body = EXCLUDED.response_body, \
         location = EXCLUDED.location, created_at = now(), expires_at = EXCLUDED.expires_at \
       WHERE idempotency_keys.expires_at <= now() \
       RETURNING 1), \
     placed AS ( \
       INSERT INTO orders (id, customer_id, total, notes, created_at, updated_at) OVERRIDING SYSTEM VALUE \
       SELECT $8, $9, $10, $11, $6, $6 FROM lock \
       WHERE ok AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM claimed)) \
       RETURNING id), \
     lines AS ( \
       INSERT INTO order_items (id, order_id, product_id, product_name, quantity, unit_price) OVERRIDING SYSTEM VALUE \
       SELECT l.id, placed.id, l.product_id, l.product_name, l.quantity, l.unit_price FROM placed, \
         UNNEST($12::bigint[], $13::bigint[], $14::text[], $15::int[], $16::numeric[]) \
           AS l(id, product_id, product_name, quantity, unit_price)), \
     jobs AS ( \
       INSERT INTO outbox (kind, payload, available_at) \
       SELECT j.kind, j.payload, j.available_at FROM placed, \
         UNNEST($17::text[], $18::jsonb[], $19::timestamptz[]) AS j(kind, payload, available_at)), \
     order_stats AS ( \
       INSERT INTO order_stats_deltas (hour, status, orders, revenue) \
       SELECT date_trunc('hour', $6::timestamptz, 'UTC'), 'pending', 1, $10 FROM placed), \
     product_stats AS ( \
       INSERT INTO product_stats_deltas (hour, product_id, quantity, revenue) \
       SELECT date_trunc('hour', $6::timestamptz, 'UTC'), l.product_id, l.quantity, \
         l.quantity * l.unit_price FROM placed, \
         UNNEST($13::bigint[], $15::int[], $16::numeric[]) AS l(product_id, quantity, unit_price)), \
     counts AS ( \
       INSERT INTO order_status_counts AS c (status, stripe, orders) \
       SELECT 'pending', pg_backend_pid() % 16, 1 FROM placed \
       ON CONFLICT (status, stripe) DO UPDATE SET orders = c.orders + 1) \
     SELECT (SELECT ok FROM lock) AS locked, EXISTS (SELECT 1 FROM placed) AS placed";

/// Step 2: one statement.
pub async fn place(db: impl PgExecutor<'_>, new: &NewOrder<'_>) -> sqlx::Result<Placement> {
    let (locked, placed): (bool, bool) = sqlx::query_as(PLACE_SQL)
        .bind(new.user_id)
        .bind(new.key)
        .bind(new.request_hash)
        .bind(new.response_body)
        .bind(new.location)
        .bind(new.at)
        .bind(new.key_ttl_seconds as f64)
        .bind(new.order_id)
        .bind(new.customer_id)
        .bind(new.total)
        .bind(new.notes)
        .bind(new.item_ids)
        .bind(new.lines.iter().map(|l| l.product_id).collect::<Vec<_>>())
        .bind(
            new.lines
                .iter()
                .map(|l| l.product_name.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(new.lines.iter().map(|l| l.quantity).collect::<Vec<_>>())
        .bind(new.lines.iter().map(|l| l.unit_price).collect::<Vec<_>>())
        .bind(new.jobs.iter().map(|j| j.0.as_str()).collect::<Vec<_>>())
        .bind(
            new.jobs
                .iter()
                .map(|j| crate::db::outbox::traced(j.1.clone()))
                .collect::<Vec<_>>(),
        )
        .bind(new.jobs.iter().map(|j| j.2).collect::<Vec<_>>())
        .fetch_one(db)
        .await?;
    Ok(match (locked, placed) {
        (_, true) => Placement::Placed,
        (false, false) => Placement::KeyInFlight,
        (true, false) => Placement::KeyTaken,
    })
}
