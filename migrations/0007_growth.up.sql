-- Lists and reports that cost the same at any size: the indexes keyset pages need, and the
-- rollups the staff summary reads instead of scanning orders.

-- Sorting by total within a status or a customer (keyset pages on (total, id)).
CREATE INDEX orders_status_total_idx ON orders (status, total, id);
CREATE INDEX orders_customer_total_idx ON orders (customer_id, total, id);

-- Orders and revenue per status, and units sold and revenue per product (cancelled orders
-- left out), per hour, day and month of the orders' creation (UTC): a summary of any range
-- reads its whole months, the whole days and hours at its ends, and the orders of at most
-- two partial hours. Writers never update these (a hot row would serialise every order
-- placed in the same hour): each change appends its delta (per hour) in the statement that
-- makes it, and the worker folds the deltas in every few seconds, one statement per table.
-- Readers add the unfolded deltas in the same snapshot, so an answer is exact at any moment.
CREATE TABLE order_stats (
    grain    TEXT           NOT NULL CHECK (grain IN ('hour', 'day', 'month')),
    period   TIMESTAMPTZ    NOT NULL,
    status   TEXT           NOT NULL,
    orders   BIGINT         NOT NULL,
    revenue  NUMERIC(16, 2) NOT NULL,
    PRIMARY KEY (grain, period, status)
);
CREATE TABLE order_stats_deltas (
    hour     TIMESTAMPTZ    NOT NULL,
    status   TEXT           NOT NULL,
    orders   INTEGER        NOT NULL,
    revenue  NUMERIC(16, 2) NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);
CREATE TABLE product_stats (
    grain      TEXT           NOT NULL CHECK (grain IN ('hour', 'day', 'month')),
    period     TIMESTAMPTZ    NOT NULL,
    product_id BIGINT         NOT NULL,
    quantity   BIGINT         NOT NULL,
    revenue    NUMERIC(16, 2) NOT NULL,
    PRIMARY KEY (grain, period, product_id)
);
CREATE TABLE product_stats_deltas (
    hour       TIMESTAMPTZ    NOT NULL,
    product_id BIGINT         NOT NULL,
    quantity   INTEGER        NOT NULL,
    revenue    NUMERIC(16, 2) NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);
-- Orders per status, all time: the `total` of unfiltered and status-filtered lists, kept in
-- the statement that places, moves or deletes an order. Each status has up to 16 rows (a
-- writer adds to the stripe of its own session, `pg_backend_pid() % 16`), so concurrent
-- writers rarely wait on one row; a reader sums a status's stripes.
CREATE TABLE order_status_counts (
    status  TEXT     NOT NULL,
    stripe  SMALLINT NOT NULL,
    orders  BIGINT   NOT NULL,
    PRIMARY KEY (status, stripe)
);

-- Recomputes every rollup from the orders: what exists when this migration runs, and after
-- orders were written behind the service's back (a bulk load, a manual fix, the benchmark's
-- seed). The service's own writes never need it.
CREATE FUNCTION rebuild_order_stats() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- A bulk job, not a request: aggregates in memory; TRUNCATE rather than DELETE (new rows
    -- would check every dead one with the same key). Writers and readers of the rollups wait.
    SET LOCAL work_mem = '256MB';
    TRUNCATE order_stats, order_stats_deltas, product_stats, product_stats_deltas,
        order_status_counts;
    WITH h AS MATERIALIZED (
        SELECT date_trunc('hour', created_at, 'UTC') AS hour, status, count(*) AS orders,
               sum(total) AS revenue
        FROM orders GROUP BY 1, 2),
    hours AS (
        INSERT INTO order_stats (grain, period, status, orders, revenue)
        SELECT 'hour', hour, status, orders, revenue FROM h),
    days AS (
        INSERT INTO order_stats (grain, period, status, orders, revenue)
        SELECT 'day', date_trunc('day', hour, 'UTC'), status, sum(orders), sum(revenue)
        FROM h GROUP BY 2, 3)
    INSERT INTO order_stats (grain, period, status, orders, revenue)
    SELECT 'month', date_trunc('month', hour, 'UTC'), status, sum(orders), sum(revenue)
    FROM h GROUP BY 2, 3;
    WITH h AS MATERIALIZED (
        SELECT date_trunc('hour', o.created_at, 'UTC') AS hour, i.product_id,
               sum(i.quantity) AS quantity, sum(i.quantity * i.unit_price) AS revenue
        FROM order_items i JOIN orders o ON o.id = i.order_id
        WHERE o.status <> 'cancelled' GROUP BY 1, 2),
    hours AS (
        INSERT INTO product_stats (grain, period, product_id, quantity, revenue)
        SELECT 'hour', hour, product_id, quantity, revenue FROM h),
    days AS (
        INSERT INTO product_stats (grain, period, product_id, quantity, revenue)
        SELECT 'day', date_trunc('day', hour, 'UTC'), product_id, sum(quantity), sum(revenue)
        FROM h GROUP BY 2, 3)
    INSERT INTO product_stats (grain, period, product_id, quantity, revenue)
    SELECT 'month', date_trunc('month', hour, 'UTC'), product_id, sum(quantity), sum(revenue)
    FROM h GROUP BY 2, 3;
    INSERT INTO order_status_counts (status, stripe, orders)
    SELECT status, 0, sum(orders) FROM order_stats WHERE grain = 'month' GROUP BY status;
END
$$;

SELECT rebuild_order_stats();
