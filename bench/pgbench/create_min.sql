-- The least PostgreSQL can do for POST /orders with 3 items: one transaction inserting the
-- order and its items and setting the total.
\set c random(:first_customer, :first_customer + :customers - 1)
\set p random(:first_product, :first_product + :products - 3)
BEGIN;
INSERT INTO orders (customer_id, total) VALUES (:c, 0) RETURNING id \gset
INSERT INTO order_items (order_id, product_id, product_name, quantity, unit_price) VALUES (:id, :p, 'Bench product', 1, 10.00), (:id, :p + 1, 'Bench product', 2, 10.00), (:id, :p + 2, 'Bench product', 3, 10.00);
UPDATE orders SET total = 60.00 WHERE id = :id;
COMMIT;
