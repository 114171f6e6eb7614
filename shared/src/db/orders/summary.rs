//! The staff summary, from the rollups (`db::stats`) rather than a scan of every order: one
//! aggregate statement per part, whatever the number of orders.
//!
//! A range `[from, to)` splits (`domain::periods`) into whole months, the whole days and hours
//! at its ends (read from the rollups and their unfolded deltas: at most 2 × 31 days and
//! 2 × 24 hours besides the months), and the partial hours at its very ends, read from the
//! orders themselves (at most two hours of them, through `orders_created_idx`): exact for any
//! range.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{Arguments, FromRow, PgExecutor, postgres::PgArguments};

use crate::domain::{OrderStatus, periods};

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

/// The parameters of both statements for `[from, to)`: the rollups' periods (`$1` grains,
/// `$2`/`$3` their ends, NULL when open), whether there are whole hours and their ends
/// (`$4`–`$6`: where unfolded hourly deltas count), the two partial stretches at the ends
/// (`$7`/`$8`, `$9`/`$10`; NULL when absent).
pub fn summary_args(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> PgArguments {
    let split = periods::split(from, to);
    let grains: Vec<&str> = split.periods.iter().map(|p| p.0.as_str()).collect();
    let lo: Vec<Option<DateTime<Utc>>> = split.periods.iter().map(|p| p.1.time()).collect();
    let hi: Vec<Option<DateTime<Utc>>> = split.periods.iter().map(|p| p.2.time()).collect();
    let (hours_lo, hours_hi) = split
        .hours
        .map_or((None, None), |(a, b)| (a.time(), b.time()));
    let edge = |n: usize| {
        split
            .edges
            .get(n)
            .map_or((None, None), |&(a, b)| (Some(a), Some(b)))
    };
    let mut args = PgArguments::default();
    let added = (|| {
        args.add(grains)?;
        args.add(lo)?;
        args.add(hi)?;
        args.add(split.hours.is_some())?;
        args.add(hours_lo)?;
        args.add(hours_hi)?;
        for n in 0..2 {
            let (a, b) = edge(n);
            args.add(a)?;
            args.add(b)?;
        }
        Ok::<_, sqlx::error::BoxDynError>(())
    })();
    added.expect("timestamps and text encode");
    args
}

/// The whole periods from the rollups; the orders of the partial stretches.
const PARTS: &str = "segments AS ( \
       SELECT grain, COALESCE(lo, '-infinity') AS lo, COALESCE(hi, 'infinity') AS hi \
       FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS s(grain, lo, hi)), \
     edges AS ( \
       SELECT o.id, o.status, o.total FROM orders o \
       WHERE o.created_at >= $7::timestamptz AND o.created_at < $8::timestamptz \
       UNION ALL \
       SELECT o.id, o.status, o.total FROM orders o \
       WHERE o.created_at >= $9::timestamptz AND o.created_at < $10::timestamptz)";

/// Unfolded deltas of the whole hours.
const IN_HOURS: &str = "$4::boolean AND d.hour >= COALESCE($5::timestamptz, '-infinity') \
     AND d.hour < COALESCE($6::timestamptz, 'infinity')";

/// The statement of [`totals_by_status`] (parameters: [`summary_args`]).
pub fn totals_by_status_sql() -> String {
    format!(
        "WITH {PARTS} \
         SELECT status, sum(orders)::bigint AS count, COALESCE(sum(revenue), 0) AS revenue FROM ( \
           SELECT s.status, s.orders, s.revenue FROM segments g JOIN order_stats s \
             ON s.grain = g.grain AND s.period >= g.lo AND s.period < g.hi \
           UNION ALL \
           SELECT d.status, d.orders, d.revenue FROM order_stats_deltas d WHERE {IN_HOURS} \
           UNION ALL \
           SELECT status, 1, total FROM edges) x \
         GROUP BY status HAVING sum(orders) <> 0"
    )
}

/// Order count and revenue per status in `[from, to)`: one aggregate statement.
pub async fn totals_by_status(
    db: impl PgExecutor<'_>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> sqlx::Result<Vec<StatusTotals>> {
    sqlx::query_as_with(
        sqlx::AssertSqlSafe(totals_by_status_sql()),
        summary_args(from, to),
    )
    .fetch_all(db)
    .await
}

/// The ten products sold in the largest quantities in `[from, to)`, cancelled orders excluded:
/// whole periods from the rollups and their unfolded deltas, the ends from the orders.
pub async fn top_products(
    db: impl PgExecutor<'_>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> sqlx::Result<Vec<ProductTotals>> {
    sqlx::query_as_with(
        sqlx::AssertSqlSafe(top_products_sql()),
        summary_args(from, to),
    )
    .fetch_all(db)
    .await
}

/// The statement of [`top_products`] (parameters: [`summary_args`]). The items of the edge
/// orders are looked up order by order (`OFFSET 0` keeps the planner from joining them as a
/// set, which it may do by reading all of `order_items` when it cannot tell how few orders
/// the edges hold).
pub fn top_products_sql() -> String {
    format!(
        "WITH {PARTS}, \
         sold AS ( \
           SELECT s.product_id, s.quantity, s.revenue FROM segments g JOIN product_stats s \
             ON s.grain = g.grain AND s.period >= g.lo AND s.period < g.hi \
           UNION ALL \
           SELECT d.product_id, d.quantity, d.revenue FROM product_stats_deltas d WHERE {IN_HOURS} \
           UNION ALL \
           SELECT i.product_id, i.quantity, i.quantity * i.unit_price FROM edges e \
           CROSS JOIN LATERAL (SELECT product_id, quantity, unit_price FROM order_items \
                               WHERE order_id = e.id OFFSET 0) i \
           WHERE e.status <> 'cancelled'), \
         top AS ( \
           SELECT product_id, sum(quantity)::bigint AS quantity, sum(revenue) AS revenue \
           FROM sold GROUP BY product_id HAVING sum(quantity) > 0 \
           ORDER BY quantity DESC, product_id LIMIT 10) \
         SELECT top.product_id, p.name AS product_name, top.quantity, top.revenue \
         FROM top JOIN products p ON p.id = top.product_id \
         ORDER BY top.quantity DESC, top.product_id"
    )
}
