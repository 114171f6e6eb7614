//! pgbench scripts made of exactly the SQL the API runs for each endpoint: built from the
//! same constants and query builder the API uses (`orderflow_shared::db::orders`), so they
//! cannot drift from it. Parameters get values like the benchmark's requests.

use orderflow_shared::{
    db::orders::{
        GET_SQL, OrderFilter, OrderSort, PLACE_SQL, PREPARE_SQL, TotalBy, list_query,
        top_products_sql, totals_by_status_sql,
    },
    domain::{
        OrderStatus,
        paging::{KeyValue, Page, Start},
    },
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
    let filter = pending();
    // A page past the first, for the statement's OFFSET (a literal the API writes into the SQL;
    // pgbench varies it through a variable).
    let page = Page {
        start: Start::Offset(20),
        page_size: 20,
        page: Some(2),
    };
    let query = list_query(
        &filter,
        OrderSort::default(),
        &page,
        TotalBy::for_filter(&filter),
    );
    let sql = query.sql().as_str().replace("OFFSET 20", "OFFSET :offset");
    Script {
        name: "list_exact",
        body: format!(
            "\\set offset (random(1, :pages) - 1) * 20\n{}",
            from_statement(&sql, &[":status", ":status"], ";")
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

/// The staff list's first page: `GET /orders?status=pending&page_size=20` (total from the
/// maintained counts).
pub fn list_first() -> Script {
    let filter = pending();
    let query = list_query(
        &filter,
        OrderSort::default(),
        &Page::first(20),
        TotalBy::for_filter(&filter),
    );
    Script {
        name: "list_first_exact",
        body: from_statement(query.sql().as_str(), &[":status", ":status"], ";"),
    }
}

/// The same list 500 pages deep, reached by its cursor: after the row `after`.
pub fn list_after(after: &[KeyValue]) -> Script {
    let filter = pending();
    let page = Page {
        start: Start::After(after.to_vec()),
        page_size: 20,
        page: None,
    };
    let query = list_query(
        &filter,
        OrderSort::default(),
        &page,
        TotalBy::for_filter(&filter),
    );
    let literal = |k: &KeyValue| match k {
        KeyValue::Int(n) => n.to_string(),
        KeyValue::Text(t) => format!("'{t}'"),
    };
    let (value, id) = (literal(&after[0]), literal(&after[1]));
    Script {
        name: "list_deep_exact",
        body: from_statement(
            query.sql().as_str(),
            &[":status", ":status", &value, &id],
            ";",
        ),
    }
}

/// A customer's own first page: `GET /orders?page_size=20` with a customer's token (total
/// counted up to 1,001).
pub fn customer_list() -> Script {
    let filter = OrderFilter {
        customer_id: Some(1),
        ..OrderFilter::default()
    };
    let query = list_query(
        &filter,
        OrderSort::default(),
        &Page::first(20),
        TotalBy::for_filter(&filter),
    );
    Script {
        name: "customer_list_exact",
        body: format!(
            "\\set c random(:first_customer, :first_customer + :customers - 1)\n{}",
            from_statement(query.sql().as_str(), &[":c", ":c"], ";")
        ),
    }
}

/// `GET /orders/summary` (all time): both statements, with the parameters `summary_args`
/// makes for an open range (all months, nothing else).
pub fn summary() -> Script {
    let args = [
        "ARRAY['month']::text[]",
        "ARRAY[NULL]::timestamptz[]",
        "ARRAY[NULL]::timestamptz[]",
        "true",
        "NULL::timestamptz",
        "NULL::timestamptz",
        "NULL::timestamptz",
        "NULL::timestamptz",
        "NULL::timestamptz",
        "NULL::timestamptz",
    ];
    Script {
        name: "summary_exact",
        body: format!(
            "{}{}",
            from_statement(&totals_by_status_sql(), &args, ";"),
            from_statement(&top_products_sql(), &args, ";")
        ),
    }
}

fn pending() -> OrderFilter {
    OrderFilter {
        status: Some(OrderStatus::Pending),
        ..OrderFilter::default()
    }
}
