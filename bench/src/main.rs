//! `orderflow-bench`: OrderFlow's release binaries under load on loopback, beside pgbench
//! running the same SQL, in one run on one machine. `scripts/bench.sh` builds, starts the
//! services and calls this; see `docs/benchmarks.md` for what each figure means.

mod config;
mod exact;
mod growth;
mod jobs;
mod pgbench;
mod process;
mod report;
mod scenarios;
mod seed;
mod tracing_cost;
mod wrk;

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;

use crate::{
    config::Config,
    process::{Env, Process},
    report::{Seeded, Summary},
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = Config::from_args()?;
    process::require("wrk", "Debian package wrk")?;
    process::require("pgbench", "Debian package postgresql-client")?;
    let smtp = orderflow_testkit::smtp::SmtpServer::start().await;
    let namespace = format!("orderflow-bench-{}", uuid::Uuid::new_v4().simple());
    let env = Env::new(&cfg, &namespace, smtp.port());
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    if !cfg.sizes.is_empty() {
        let sizes = growth::run(&cfg, &env).await?;
        println!("{}", growth::table(&sizes));
        eprintln!("[bench] wrote {}", cfg.out_dir.join("growth.md").display());
        orderflow_testkit::delete_redis_keys(&namespace).await;
        return Ok(());
    }

    eprintln!("[bench] fresh database, migrations, first admin");
    seed::recreate_database(&cfg).await?;
    Process::run_api_command(&cfg, &env, &["migrate"]).await?;
    Process::run_api_command(&cfg, &env, &["create-admin"]).await?;
    let db = PgPoolOptions::new()
        .max_connections(4)
        .connect(&cfg.db_url())
        .await
        .context("connecting to the bench database")?;
    eprintln!(
        "[bench] seeding {} customers, {} products, {} orders",
        cfg.customers, cfg.products, cfg.orders
    );
    let seed_time = seed::seed(&cfg, &db).await?;
    let tokens = seed::tokens(&cfg, &env, &db).await?;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&db).await }
    };
    let seeded = Seeded {
        customers: count("SELECT count(*) FROM customers").await?,
        products: count("SELECT count(*) FROM products").await?,
        orders: count("SELECT count(*) FROM orders").await?,
        items: count("SELECT count(*) FROM order_items").await?,
        seconds: seed_time.as_secs_f64(),
    };
    let ids = scenarios::Ids {
        first_customer: count("SELECT min(id) FROM customers").await?,
        first_product: count("SELECT min(id) FROM products").await?,
        staff_user: count("SELECT min(id) FROM users WHERE role = 'staff'").await?,
    };

    let mut summary = Summary {
        started_at,
        machine: report::machine(),
        quick: cfg.quick,
        warmup_seconds: cfg.warmup.as_secs(),
        duration_seconds: cfg.duration.as_secs(),
        connections: cfg.connections,
        seeded,
        api: Vec::new(),
        noop: None,
        drains: Vec::new(),
        latency: None,
        cache_hit_ratio: None,
        limits: None,
    };
    let ctx = scenarios::Context {
        cfg: &cfg,
        env: &env,
        db: &db,
        tokens: &tokens,
        ids,
    };
    scenarios::api(&ctx, &mut summary).await?;
    if cfg.runs("tracing") {
        tracing_cost::run(&ctx, &mut summary).await?;
    }
    scenarios::worker(&ctx, &smtp, &namespace, &mut summary).await?;

    let table = summary.table();
    println!("{table}");
    std::fs::write(cfg.out_dir.join("table.md"), &table)?;
    std::fs::write(
        cfg.out_dir.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    eprintln!(
        "[bench] wrote {} and {}",
        cfg.out_dir.join("table.md").display(),
        cfg.out_dir.join("summary.json").display()
    );
    orderflow_testkit::delete_redis_keys(&namespace).await;
    Ok(())
}
