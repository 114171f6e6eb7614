//! Query plans at size: on a database of 300,000 orders (seeded inside PostgreSQL in seconds),
//! `EXPLAIN` every statement shape the orders list and the summary can build — each filter
//! combination, each sort, first page, deep page number and cursor page, customer-scoped or
//! not — with the values a request would bind (a custom plan) and with none (the generic plan
//! PostgreSQL may switch a prepared statement to). A shape fails on a sequential scan of
//! `orders` or `order_items`, or on a sort of rows from `orders` that no `LIMIT` bounds (a
//! sort of everything that matches, not of a page).

use chrono::{Duration, Utc};
use orderflow_shared::{
    db::orders::{
        OrderFilter, OrderSort, TotalBy, list_query, summary_args, top_products_sql,
        totals_by_status_sql,
    },
    domain::{
        OrderStatus,
        paging::{KeyValue, Page, Start},
    },
};
use orderflow_testkit::seed::{self, Shop};
use rust_decimal::Decimal;
use secrecy::ExposeSecret;
use serde_json::Value;
use sqlx::{Connection, Execute, postgres::PgArguments};

use crate::helpers::{TestApp, spawn_app};

const SHOP: Shop = Shop {
    orders: 300_000,
    customers: 1_000,
    products: 200,
};

async fn seed(app: &TestApp) {
    let started = std::time::Instant::now();
    // A connection of its own: the app's sessions have a statement timeout.
    let url = app.settings.core.database.url.expose_secret();
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO customers (name, email) SELECT 'Customer ' || g, 'c' || g || '@plans.test' \
           FROM generate_series(1, {c}) g;
         INSERT INTO products (sku, name, price) SELECT 'PLAN-' || g, 'Product ' || g, 1 + g % 97 \
           FROM generate_series(1, {p}) g;",
        c = SHOP.customers,
        p = SHOP.products,
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    seed::load(&mut conn, SHOP, SHOP.orders, |_| {})
        .await
        .unwrap();
    eprintln!(
        "[plans] seeded {} orders in {:?}",
        SHOP.orders,
        started.elapsed()
    );
}

/// Every problem found in one plan (JSON, as `EXPLAIN (FORMAT JSON)` gives it). `sorts`:
/// whether sorting orders is one (a first page or a cursor's page must not sort more than the
/// page; a page number past the first reads up to 10,000 rows by design, and the summary
/// sorts the orders of its two partial hours at most).
fn problems(plan: &Value, sorts: bool) -> Vec<String> {
    let mut found = Vec::new();
    visit(&plan[0]["Plan"], false, &mut found);
    if !sorts {
        found.retain(|p| p.starts_with("a sequential"));
    }
    found
}

/// `sorting`: a Sort above this node with no Limit in between. Sorting one customer's orders
/// (read through an index on `customer_id`) is no problem: their number does not grow with
/// the table.
fn visit(node: &Value, sorting: bool, found: &mut Vec<String>) {
    let kind = node["Node Type"].as_str().unwrap_or_default();
    let relation = node["Relation Name"].as_str().unwrap_or_default();
    let big = matches!(relation, "orders" | "order_items");
    if kind == "Seq Scan" && big {
        found.push(format!("a sequential scan of {relation}"));
    }
    let one_customer = ["Index Cond", "Recheck Cond"].iter().any(|k| {
        node[k]
            .as_str()
            .is_some_and(|c| c.contains("customer_id = "))
    });
    if sorting && relation == "orders" && !one_customer {
        found.push(format!(
            "a sort of every matching order ({kind} on {}, ~{} rows)",
            node["Index Name"].as_str().unwrap_or(relation),
            node["Plan Rows"]
        ));
    }
    let sorting = match kind {
        "Limit" => false,
        "Sort" | "Incremental Sort" => true,
        _ => sorting,
    };
    for child in node["Plans"].as_array().into_iter().flatten() {
        visit(child, sorting, found);
    }
}

async fn explain(app: &TestApp, sql: &str, args: PgArguments, generic: bool) -> Value {
    let mut conn = app.db.acquire().await.unwrap();
    let mode = if generic {
        "force_generic_plan"
    } else {
        "force_custom_plan"
    };
    sqlx::query(sqlx::AssertSqlSafe(format!("SET plan_cache_mode = {mode}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let plan: Value = sqlx::query_scalar_with(
        sqlx::AssertSqlSafe(format!("EXPLAIN (FORMAT JSON) {sql}")),
        args,
    )
    .fetch_one(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("{e}: {sql}"));
    sqlx::query("RESET plan_cache_mode")
        .execute(&mut conn)
        .await
        .unwrap();
    plan
}

/// Each combination of the list's filters (one-sided ranges too).
fn filters() -> Vec<(String, OrderFilter)> {
    let now = Utc::now();
    let mut all = Vec::new();
    for mask in 0..64u32 {
        let on = |bit: u32| mask & (1 << bit) != 0;
        let filter = OrderFilter {
            status: on(0).then_some(OrderStatus::Pending),
            customer_id: on(1).then_some(8),
            created_from: on(2).then(|| now - Duration::days(90)),
            created_to: on(3).then(|| now - Duration::days(10)),
            min_total: on(4).then(|| Decimal::new(2000, 2)),
            max_total: on(5).then(|| Decimal::new(40000, 2)),
        };
        let name = [
            "status",
            "customer",
            "created_from",
            "created_to",
            "min_total",
            "max_total",
        ]
        .iter()
        .enumerate()
        .filter(|(bit, _)| on(*bit as u32))
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join("+");
        all.push((if name.is_empty() { "none".into() } else { name }, filter));
    }
    all
}

/// Where a page starts: the first page, page 500 by number, after a cursor.
fn starts(sort: OrderSort) -> Vec<(&'static str, Page)> {
    let cursor = match sort {
        OrderSort::CreatedAt | OrderSort::CreatedAtDesc => {
            vec![
                KeyValue::time(Utc::now() - Duration::days(120)),
                KeyValue::Int(150_000),
            ]
        }
        OrderSort::Total | OrderSort::TotalDesc => {
            vec![KeyValue::Text("150.00".into()), KeyValue::Int(150_000)]
        }
        OrderSort::Id => vec![KeyValue::Int(150_000)],
    };
    let page = |start| Page {
        start,
        page_size: 20,
        page: None,
    };
    vec![
        ("page 1", Page::first(20)),
        ("page 500", page(Start::Offset(9_980))),
        ("cursor", page(Start::After(cursor))),
    ]
}

#[tokio::test]
async fn every_list_and_summary_shape_reads_a_page_not_the_table() {
    let app = spawn_app().await;
    seed(&app).await;
    let sorts = [
        OrderSort::CreatedAtDesc,
        OrderSort::CreatedAt,
        OrderSort::Total,
        OrderSort::TotalDesc,
        OrderSort::Id,
    ];
    let mut failures = Vec::new();
    let mut shapes = 0;
    for (name, filter) in filters() {
        for sort in sorts {
            for (start, page) in starts(sort) {
                for generic in [false, true] {
                    let mut query = list_query(&filter, sort, &page, TotalBy::for_filter(&filter));
                    let mut built = query.build();
                    let args = built.take_arguments().unwrap().unwrap();
                    let sql = built.sql();
                    let plan = explain(&app, sql.as_str(), args, generic).await;
                    shapes += 1;
                    for problem in problems(&plan, start != "page 500") {
                        let how = if generic { "generic" } else { "custom" };
                        failures.push(format!("{name}, sort {sort:?}, {start} ({how}): {problem}"));
                    }
                }
            }
        }
    }
    let hour = Utc::now() - Duration::minutes(30);
    let ranges = [
        (None, None),
        (Some(Utc::now() - Duration::days(200)), None),
        (None, Some(hour)),
        (
            Some(hour - Duration::days(40)),
            Some(hour - Duration::days(3)),
        ),
        (Some(hour - Duration::minutes(20)), Some(hour)),
    ];
    for (from, to) in ranges {
        for sql in [totals_by_status_sql(), top_products_sql()] {
            for generic in [false, true] {
                let args = summary_args(from, to);
                let plan = explain(&app, &sql, args, generic).await;
                shapes += 1;
                for problem in problems(&plan, false) {
                    failures.push(format!(
                        "summary [{from:?}, {to:?}) generic={generic}: {problem}"
                    ));
                }
            }
        }
    }
    assert!(shapes >= 64 * 5 * 3 * 2, "{shapes} shapes");
    assert!(
        failures.is_empty(),
        "{} of {shapes} plans read more than a page:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
