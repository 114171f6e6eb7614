//! Orders in bulk, generated inside PostgreSQL (no rows cross the wire): the benchmark's
//! databases of 100,000 to 10,000,000 orders and the plan tests' few hundred thousand.
//!
//! Order `g` (1-based) of `n` is deterministic: a customer and a status picked by `g` (a fifth
//! in each status), created `(n - g)/n` of a year before the seeding started, 1 to 5 distinct
//! products (3 on average) with quantities 1 to 4 at their current prices, a total that adds
//! them up, and a delivery note on every tenth. Ids are `g`: seed into an empty `orders` and
//! call [`finish_sql`] after the last batch.

use sqlx::{Connection, PgConnection};
use std::ops::Range;

/// What to seed orders among.
#[derive(Debug, Clone, Copy)]
pub struct Shop {
    /// Orders in all (the year is spread over them).
    pub orders: i64,
    /// Customers and products with consecutive ids from their tables' smallest.
    pub customers: i64,
    /// At least 5, and `37·d mod products ≠ 0` for d < 5 (an order's products are distinct).
    pub products: i64,
}

/// The product (offset from the smallest id) of line `k` of order `g`, and its quantity.
const LINE: &str = "(g * 7 + k * 37) % {products}";

impl Shop {
    /// One statement seeding orders `batch` (within `1..=orders`) and their items. `start`
    /// is a SQL expression for the moment the year ends (e.g. `now()`, or a fixed timestamp
    /// shared by batches).
    pub fn orders_sql(&self, batch: Range<i64>, start: &str) -> String {
        let Shop {
            orders,
            customers,
            products,
        } = *self;
        let line = LINE.replace("{products}", &products.to_string());
        let (from, to) = (batch.start, batch.end - 1);
        format!(
            "WITH first AS (SELECT (SELECT min(id) FROM customers) AS c, \
                                   (SELECT min(id) FROM products) AS p), \
             lines AS ( \
               SELECT g, k, p.id AS product_id, p.name, 1 + (g + k) % 4 AS quantity, p.price \
               FROM first CROSS JOIN generate_series({from}::bigint, {to}) g \
               CROSS JOIN LATERAL generate_series(0, g % 5) k \
               JOIN products p ON p.id = first.p + {line}), \
             placed AS ( \
               INSERT INTO orders (id, customer_id, status, total, notes, created_at, updated_at) \
               OVERRIDING SYSTEM VALUE \
               SELECT g, first.c + (g * 7919) % {customers}, \
                 (ARRAY['pending', 'processing', 'shipped', 'delivered', 'cancelled'])[1 + (g * 31) % 5], \
                 total, CASE WHEN g % 10 = 0 THEN 'Leave at the door' END, at, at \
               FROM first, \
                 (SELECT g, sum(quantity * price) AS total FROM lines GROUP BY g) t, \
                 LATERAL (SELECT ({start}) - make_interval(secs => ({orders} - g) * 31536000.0 / {orders}) AS at) a \
               ORDER BY g \
               RETURNING id) \
             INSERT INTO order_items (order_id, product_id, product_name, quantity, unit_price) \
             SELECT g, product_id, name, quantity, price FROM lines ORDER BY g, k"
        )
    }
}

/// Seeds every order of `shop` in batches of `batch` on `conn` (a connection without a
/// statement timeout), calling `progress` with the orders seeded so far after each, then
/// [`finish_sql`] and `VACUUM ANALYZE`. As bulk loads do: the secondary indexes of `orders` and
/// `order_items` (not those behind constraints) are dropped first and built again at the end,
/// and foreign keys are not checked meanwhile (`session_replication_role = replica`, for a
/// superuser: the rows are made consistent by construction).
pub async fn load(
    conn: &mut PgConnection,
    shop: Shop,
    batch: i64,
    mut progress: impl FnMut(i64),
) -> sqlx::Result<()> {
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes \
         WHERE schemaname = current_schema() AND tablename IN ('orders', 'order_items') \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = indexname)",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut tx = conn.begin().await?;
    for (name, _) in &indexes {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    sqlx::raw_sql("SET session_replication_role = replica; SET maintenance_work_mem = '512MB'")
        .execute(&mut *conn)
        .await?;
    // One end of the year for every batch.
    let start: String = sqlx::query_scalar("SELECT now()::text")
        .fetch_one(&mut *conn)
        .await?;
    let start = format!("'{start}'::timestamptz");
    let mut from = 1;
    while from <= shop.orders {
        let to = (from + batch).min(shop.orders + 1);
        sqlx::raw_sql(sqlx::AssertSqlSafe(shop.orders_sql(from..to, &start)))
            .execute(&mut *conn)
            .await?;
        progress(to - 1);
        from = to;
    }
    for (_, definition) in &indexes {
        sqlx::raw_sql(sqlx::AssertSqlSafe(definition.clone()))
            .execute(&mut *conn)
            .await?;
    }
    sqlx::raw_sql("RESET session_replication_role; RESET maintenance_work_mem")
        .execute(&mut *conn)
        .await?;
    sqlx::raw_sql(finish_sql()).execute(&mut *conn).await?;
    sqlx::raw_sql("VACUUM ANALYZE").execute(&mut *conn).await?;
    Ok(())
}

/// After the last batch: the id sequence past the seeded ids and the summary's rollups
/// recomputed (migration 0007 on; older schemas have none). Then run `VACUUM ANALYZE` (on its
/// own: not in a transaction) for the planner's statistics and index-only scans.
pub fn finish_sql() -> &'static str {
    "SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders)); \
     DO $$ BEGIN \
       IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'rebuild_order_stats') THEN \
         PERFORM rebuild_order_stats(); \
       END IF; \
     END $$;"
}
