DROP FUNCTION rebuild_order_stats();
DROP TABLE order_status_counts;
DROP TABLE product_stats_deltas;
DROP TABLE product_stats;
DROP TABLE order_stats_deltas;
DROP TABLE order_stats;
DROP INDEX orders_customer_total_idx;
DROP INDEX orders_status_total_idx;
