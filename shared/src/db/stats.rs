//! The rollups behind the staff summary and the lists' totals (migration 0007): orders and
//! revenue per status, units and revenue per product (cancelled orders left out), each per
//! hour, day and month; orders per status.
//!
//! Writers append deltas in the statement that makes the change (placing an order, a
//! transition, an expiry, a delete): no row is updated by two requests, so nothing
//! serialises. The worker folds the deltas into the totals every `STATS_FOLD_INTERVAL_MS`
//! (`fold`), each table in one statement. Readers add the unfolded deltas to the totals in
//! one snapshot, so an answer is exact at any moment, folded or not.
//!
//! The orders per status (the lists' totals, read on every list request) are kept another
//! way, so that no list ever reads deltas: the same statements add to a striped counter
//! (`order_status_counts`, a row per status and `pg_backend_pid() % 16`), rows in key order.

use sqlx::PgExecutor;

/// The grains every delta is folded into.
const GRAINS: &str = "(VALUES ('hour'), ('day'), ('month')) AS g(grain)";

/// Folds every order delta into `order_stats` (each grain); returns how many deltas it
/// folded.
pub async fn fold_orders(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH d AS (DELETE FROM order_stats_deltas RETURNING hour, status, orders, revenue), \
         s AS (SELECT g.grain, date_trunc(g.grain, d.hour, 'UTC') AS period, d.status, \
                 sum(d.orders)::bigint AS orders, sum(d.revenue) AS revenue \
               FROM d, {GRAINS} GROUP BY 1, 2, 3), \
         totals AS ( \
           INSERT INTO order_stats AS t (grain, period, status, orders, revenue) \
           SELECT grain, period, status, orders, revenue FROM s \
           ON CONFLICT (grain, period, status) DO UPDATE SET orders = t.orders + EXCLUDED.orders, \
             revenue = t.revenue + EXCLUDED.revenue) \
         SELECT count(*) FROM d"
    )))
    .fetch_one(db)
    .await
}

/// Folds every product delta into `product_stats` (each grain).
pub async fn fold_products(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH d AS (DELETE FROM product_stats_deltas \
                    RETURNING hour, product_id, quantity, revenue), \
         s AS (SELECT g.grain, date_trunc(g.grain, d.hour, 'UTC') AS period, d.product_id, \
                 sum(d.quantity)::bigint AS quantity, sum(d.revenue) AS revenue \
               FROM d, {GRAINS} GROUP BY 1, 2, 3), \
         totals AS ( \
           INSERT INTO product_stats AS t (grain, period, product_id, quantity, revenue) \
           SELECT grain, period, product_id, quantity, revenue FROM s \
           ON CONFLICT (grain, period, product_id) DO UPDATE \
             SET quantity = t.quantity + EXCLUDED.quantity, revenue = t.revenue + EXCLUDED.revenue) \
         SELECT count(*) FROM d"
    )))
    .fetch_one(db)
    .await
}

/// Orders in `status` (all statuses when `None`), exactly: the sum of its stripes in
/// `order_status_counts`, which the writing statements keep. At most 16 rows per status.
pub async fn orders_in(db: impl PgExecutor<'_>, status: Option<&str>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(orders), 0)::bigint FROM order_status_counts \
         WHERE $1::text IS NULL OR status = $1",
    )
    .bind(status)
    .fetch_one(db)
    .await
}
