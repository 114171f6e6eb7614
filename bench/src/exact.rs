//! pgbench scripts made of exactly the SQL the API runs for each endpoint: built from the
//! same constants and query builder the API uses (`orderflow_shared::db::orders`), so they
//! cannot drift from it. Parameters get values like the benchmark's requests.

use orderflow_shared::{
    db::orders::{GET_SQL, OrderFilter, OrderSort, PLACE_SQL, PREPARE_SQL, list_query},
    domain::{OrderStatus, paging::Page},
};

use crate::pgbench::{Script, from_statement};

/// `GET /orders/{id}` as staff (no customer scope), ids from the hot set.
pub fn read() -> Script {
    Script {
        name: "read_exact",
        body: format!(
            "\\set id random(1, :hot)\n{}",
            from_statement(GET_SQL, &[":id", "NULL::bigint"], ";")
        ),
    }
}

/// `GET /orders?status=pending&page=N&page_size=20`.
pub fn list() -> Script {
    let filter = OrderFilter {
        status: Some(OrderStatus::Pending),
        ..OrderFilter::default()
    };
    let page = Page {
        page: 1,
        page_size: 20,
    };
    let query = list_query(&filter, OrderSort::default(), page);
    Script {
        name: "list_exact",
        body: format!(
            "\\set offset (random(1, :pages) - 1) * 20\n\\set limit 20\n{}",
            from_statement(
                query.sql().as_str(),
                &[":status", ":status", ":limit", ":offset"],
                ";"
            )
        ),
    }
}

/// `POST /orders` with 3 items and an Idempotency-Key: the read, then the write.
pub fn create() -> Script {
    // A stored response the size of the API's (~700 bytes for 3 items). Not JSON text with
    // colons: pgbench would take `:word` inside it for a variable.
    let body = "to_jsonb(repeat('x', 700))";
    let key = "'pgbench-' || :client_id || '-' || :r";
    let prepare = from_statement(
        PREPARE_SQL,
        &[":c", "ARRAY[:p, :p + 1, :p + 2]::bigint[]", ":user", key],
        " \\gset",
    );
    let place = from_statement(
        PLACE_SQL,
        &[
            ":user",
            key,
            "'\\x00'::bytea",
            body,
            "'/api/v1/orders/' || :order_id",
            ":at::timestamptz",
            "86400.0",
            ":order_id",
            ":c",
            "60.00",
            "NULL::text",
            ":item_ids::bigint[]",
            "ARRAY[:p, :p + 1, :p + 2]::bigint[]",
            "ARRAY['Bench product 1', 'Bench product 2', 'Bench product 3']",
            "ARRAY[1, 2, 3]",
            "ARRAY[10.00, 10.00, 10.00]",
            "ARRAY['send_order_confirmation', 'expire_pending_order']",
            "ARRAY[jsonb_build_object('order_id', :order_id::bigint, 'request_id', 'pgbench'), jsonb_build_object('order_id', :order_id::bigint)]",
            "ARRAY[now(), now() + interval '1 day']",
        ],
        ";",
    );
    Script {
        name: "create_exact",
        body: format!(
            "\\set c random(:first_customer, :first_customer + :customers - 1)\n\
             \\set p random(:first_product, :first_product + :products - 3)\n\
             \\set r random(1, 1000000000)\n{prepare}{place}"
        ),
    }
}
