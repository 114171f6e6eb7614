-- Orders with their item snapshots, idempotency keys and the audit trail.
CREATE TABLE orders (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id BIGINT         NOT NULL REFERENCES customers (id),
    status      TEXT           NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'processing', 'shipped', 'delivered', 'cancelled')),
    total       NUMERIC(14, 2) NOT NULL CHECK (total >= 0),
    notes       TEXT           CHECK (char_length(notes) <= 500),
    created_at  TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ    NOT NULL DEFAULT now()
);
-- A customer's own list (the most common filter), newest first.
CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at DESC, id DESC);
-- Staff lists by status and date; the summary's date range.
CREATE INDEX orders_status_created_idx ON orders (status, created_at DESC, id DESC);
CREATE INDEX orders_created_idx ON orders (created_at DESC, id DESC);
-- Sorting and filtering by total.
CREATE INDEX orders_total_idx ON orders (total, id);

CREATE TABLE order_items (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id     BIGINT         NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id   BIGINT         NOT NULL REFERENCES products (id),
    product_name TEXT           NOT NULL,
    quantity     INTEGER        NOT NULL CHECK (quantity BETWEEN 1 AND 20),
    unit_price   NUMERIC(12, 2) NOT NULL CHECK (unit_price > 0),
    CONSTRAINT order_items_order_product_key UNIQUE (order_id, product_id)
);
CREATE INDEX order_items_product_idx ON order_items (product_id);

-- Idempotency-Key records, scoped per user. The response is stored with the order, in the
-- same transaction.
CREATE TABLE idempotency_keys (
    user_id       BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key           TEXT        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    request_hash  BYTEA       NOT NULL,
    status_code   SMALLINT    NOT NULL,
    response_body JSONB       NOT NULL,
    location      TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

CREATE TABLE audit_log (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_user_id BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    action        TEXT        NOT NULL,
    entity_type   TEXT        NOT NULL,
    entity_id     BIGINT      NOT NULL,
    before        JSONB,
    after         JSONB,
    request_id    TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_user_id, id DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, id DESC);
