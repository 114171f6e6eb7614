-- The least PostgreSQL can do for GET /orders/{id}: one statement joining the order, its
-- customer and its items.
\set id random(1, :hot)
SELECT o.id, o.customer_id, c.name, o.status, o.total, o.notes, o.created_at, o.updated_at, i.id, i.product_id, i.product_name, i.quantity, i.unit_price FROM orders o JOIN customers c ON c.id = o.customer_id JOIN order_items i ON i.order_id = o.id WHERE o.id = :id ORDER BY i.id;
