//! The growth run (`--orders 100000,1000000,10000000`): the same requests at each database
//! size, each beside pgbench running the same statement, so a table shows how every cost
//! grows with the data. Per size: a fresh database seeded inside PostgreSQL (customers grow
//! with the orders, 100 orders each, as a shop's customers do) and an API with the read cache
//! off. No worker runs, as in the usual run: the reads come before any write (the seed
//! leaves no unfolded deltas), and the orders placed last have no email sent or delta folded
//! in their measured time.
//!
//! Requests: the staff list's first page (pending orders, newest first, 20), the same list 500
//! pages deep reached by following `next` (the cursor is fetched once, then requested again
//! and again), a customer's own first page, the summary (all time), one order by id and
//! placing an order.

use anyhow::Context as _;
use orderflow_shared::domain::paging::KeyValue;
use serde::Serialize;
use sqlx::postgres::PgPoolOptions;

use crate::{
    config::Config,
    exact,
    process::{Env, Process},
    report::ApiRow,
    scenarios::{Context, Ids},
    seed,
};

/// Figures of one database size.
#[derive(Debug, Serialize)]
pub struct Size {
    pub orders: i64,
    pub customers: i64,
    pub seed_seconds: f64,
    pub database_mib: f64,
    pub rows: Vec<ApiRow>,
}

pub async fn run(cfg: &Config, env: &Env) -> anyhow::Result<Vec<Size>> {
    let mut sizes = Vec::new();
    for &orders in &cfg.sizes {
        let mut cfg = cfg.clone();
        cfg.orders = orders;
        cfg.customers = cfg.customers.max(orders / 100);
        sizes.push(size(&cfg, env).await?);
        let table = table(&sizes);
        std::fs::write(cfg.out_dir.join("growth.md"), &table)?;
        std::fs::write(
            cfg.out_dir.join("growth.json"),
            serde_json::to_string_pretty(&sizes)?,
        )?;
    }
    Ok(sizes)
}

async fn size(cfg: &Config, env: &Env) -> anyhow::Result<Size> {
    eprintln!(
        "[bench] growth: {} orders, {} customers",
        cfg.orders, cfg.customers
    );
    seed::recreate_database(cfg).await?;
    Process::run_api_command(cfg, env, &["migrate"]).await?;
    Process::run_api_command(cfg, env, &["create-admin"]).await?;
    let db = PgPoolOptions::new()
        .max_connections(4)
        .connect(&cfg.db_url())
        .await
        .context("connecting to the bench database")?;
    let seed_time = seed::seed(cfg, &db).await?;
    let tokens = seed::tokens(cfg, env, &db).await?;
    let scalar = |sql: &'static str| {
        let db = db.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&db).await }
    };
    let ids = Ids {
        first_customer: scalar("SELECT min(id) FROM customers").await?,
        first_product: scalar("SELECT min(id) FROM products").await?,
        staff_user: scalar("SELECT min(id) FROM users WHERE role = 'staff'").await?,
    };
    let database_mib =
        scalar("SELECT pg_database_size(current_database())").await? as f64 / 1048576.0;
    let ctx = Context {
        cfg,
        env,
        db: &db,
        tokens: &tokens,
        ids,
    };
    let uncached = env.with(&[("CACHE_TTL_SECONDS", "0".into())]);
    let api = Process::api(cfg, &uncached, "growth-api").await?;
    let staff = tokens.staff.display().to_string();
    let customers = tokens.customers.display().to_string();
    let get = |path: &str, tokens: &str| {
        vec![
            ("BENCH_PATH", path.to_string()),
            ("BENCH_TOKENS", tokens.to_string()),
        ]
    };
    let mut rows = Vec::new();

    let first = "/api/v1/orders?status=pending&page_size=20";
    let mut row = ctx
        .measure_with(&api, "list, first page", "get", &get(first, &staff))
        .await?;
    row.exact = ctx.limit(Some(exact::list_first())).await?;
    rows.push(row);

    let (deep, after) = deep_page(&api, &tokens, first, 500).await?;
    let mut row = ctx
        .measure_with(
            &api,
            "list, 500 pages deep (cursor)",
            "get",
            &get(&deep, &staff),
        )
        .await?;
    row.exact = ctx.limit(Some(exact::list_after(&after))).await?;
    rows.push(row);

    let mine = "/api/v1/orders?page_size=20";
    let mut row = ctx
        .measure_with(&api, "a customer's own list", "get", &get(mine, &customers))
        .await?;
    row.exact = ctx.limit(Some(exact::customer_list())).await?;
    rows.push(row);

    let summary = "/api/v1/orders/summary";
    let mut row = ctx
        .measure_with(&api, "summary (all time)", "get", &get(summary, &staff))
        .await?;
    row.exact = ctx.limit(Some(exact::summary())).await?;
    rows.push(row);

    let mut row = ctx
        .measure_with(&api, "GET /orders/{id}", "read", &[])
        .await?;
    row.exact = ctx.limit(Some(exact::read())).await?;
    rows.push(row);

    let mut row = ctx
        .measure_with(&api, "POST /orders (3 items)", "create", &[])
        .await?;
    row.exact = ctx.limit(Some(exact::create())).await?;
    rows.push(row);

    api.stop().await?;
    db.close().await;
    Ok(Size {
        orders: cfg.orders,
        customers: cfg.customers,
        seed_seconds: seed_time.as_secs_f64(),
        database_mib,
        rows,
    })
}

/// Follows `next` from `first` for `pages` pages as a staff member: the URL of the page that
/// far down, and the sort key its cursor holds (for pgbench's copy of the statement).
async fn deep_page(
    api: &Process,
    tokens: &seed::Tokens,
    first: &str,
    pages: usize,
) -> anyhow::Result<(String, Vec<KeyValue>)> {
    let token = std::fs::read_to_string(&tokens.staff)?
        .split_whitespace()
        .next()
        .context("a staff token")?
        .to_string();
    let client = reqwest::Client::new();
    let mut path = first.to_string();
    let mut last = serde_json::Value::Null;
    for _ in 0..pages {
        let page: serde_json::Value = client
            .get(format!("{}{path}", api.url()))
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        last = page["items"]
            .as_array()
            .and_then(|items| items.last().cloned())
            .context("a full page")?;
        path = page["next"]
            .as_str()
            .context("the list is shorter than the pages to follow")?
            .to_string();
    }
    let after = vec![
        KeyValue::Text(
            last["created_at"]
                .as_str()
                .context("created_at")?
                .to_string(),
        ),
        KeyValue::Int(last["id"].as_i64().context("id")?),
    ];
    Ok((path, after))
}

/// One line per request, the sizes side by side: API rps, p99, pgbench tps of the same SQL,
/// the API's share of it, and the rate against the first (smallest) size.
pub fn table(sizes: &[Size]) -> String {
    let mut out = String::from("| request |");
    let mut rule = String::from("|---|");
    for size in sizes {
        out.push_str(&format!(
            " {n} orders: rps | p99 ms | pgbench tps | api / pgbench | vs {first} |",
            n = size.orders,
            first = sizes[0].orders
        ));
        rule.push_str("---|---|---|---|---|");
    }
    out.push('\n');
    out.push_str(&rule);
    out.push('\n');
    for (i, row) in sizes[0].rows.iter().enumerate() {
        out.push_str(&format!("| {} |", row.scenario));
        for size in sizes {
            let r = &size.rows[i];
            let exact = r.exact.as_ref().map_or(f64::NAN, |e| e.tps);
            out.push_str(&format!(
                " {:.0} | {:.1} | {:.0} | {:.2} | {:.2} |",
                r.load.rps,
                r.load.p99_ms,
                exact,
                r.load.rps / exact,
                r.load.rps / sizes[0].rows[i].load.rps
            ));
        }
        out.push('\n');
    }
    out.push('\n');
    for size in sizes {
        out.push_str(&format!(
            "- {} orders, {} customers: seeded in {:.0} s, database {:.0} MiB\n",
            size.orders, size.customers, size.seed_seconds, size.database_mib
        ));
    }
    out
}
