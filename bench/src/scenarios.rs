//! The scenarios, in order: the API's endpoints under wrk (each followed, with the API idle,
//! by pgbench running the same SQL), then the worker's throughput and latency.

use anyhow::Context as _;
use sqlx::PgPool;
use std::time::Duration;

use crate::{
    config::Config,
    exact, jobs,
    pgbench::{self, Limit, Script},
    process::{Env, Process},
    report::{ApiRow, LimitsResult, Summary},
    seed::{self, Tokens},
    wrk,
};

pub struct Ids {
    pub first_customer: i64,
    pub first_product: i64,
    pub staff_user: i64,
}

pub struct Context<'a> {
    pub cfg: &'a Config,
    pub env: &'a Env,
    pub db: &'a PgPool,
    pub tokens: &'a Tokens,
    pub ids: Ids,
}

impl Context<'_> {
    fn wrk_env(&self) -> Vec<(&'static str, String)> {
        let cfg = self.cfg;
        vec![
            (
                "BENCH_STAFF_TOKENS",
                self.tokens.staff.display().to_string(),
            ),
            (
                "BENCH_CUSTOMER_TOKENS",
                self.tokens.customers.display().to_string(),
            ),
            ("BENCH_HOT_ORDERS", cfg.hot_orders.to_string()),
            ("BENCH_PAGES", self.pages().to_string()),
            ("BENCH_PRODUCTS", cfg.products.to_string()),
            ("BENCH_FIRST_PRODUCT", self.ids.first_product.to_string()),
            ("BENCH_CUSTOMERS", cfg.customers.to_string()),
            ("BENCH_PASSWORD", seed::PASSWORD.to_string()),
            ("BENCH_RUN", uuid::Uuid::new_v4().simple().to_string()),
        ]
    }

    /// Pages of 20 among the pending orders (a fifth of the seeded ones), at most 50 deep.
    fn pages(&self) -> i64 {
        (self.cfg.orders / 5 / 20).clamp(1, 50)
    }

    fn pg_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("hot", self.cfg.hot_orders.to_string()),
            ("customers", self.cfg.customers.to_string()),
            ("first_customer", self.ids.first_customer.to_string()),
            ("products", self.cfg.products.to_string()),
            ("first_product", self.ids.first_product.to_string()),
            ("pages", self.pages().to_string()),
            ("status", "pending".to_string()),
            // Keys and orders written by pgbench belong to a seeded staff user.
            ("user", self.ids.staff_user.to_string()),
        ]
    }

    /// Every run starts right after a checkpoint, so the full-page writes that follow one (and
    /// the checkpoint's own I/O) fall on each run alike rather than on whichever run a
    /// WAL-triggered checkpoint happens to hit.
    async fn checkpoint(&self) -> anyhow::Result<()> {
        sqlx::raw_sql("CHECKPOINT").execute(self.db).await?;
        Ok(())
    }

    /// Warm-up, then a measured wrk run with the API's CPU and memory read around it.
    async fn measure(&self, api: &Process, scenario: &str, script: &str) -> anyhow::Result<ApiRow> {
        self.measure_with(api, scenario, script, &[]).await
    }

    /// `measure` with more variables for the wrk script.
    pub async fn measure_with(
        &self,
        api: &Process,
        scenario: &str,
        script: &str,
        extra: &[(&'static str, String)],
    ) -> anyhow::Result<ApiRow> {
        eprintln!("[bench] {scenario}: wrk");
        self.checkpoint().await?;
        // A fresh environment per run: its BENCH_RUN keeps Idempotency-Keys unique.
        let env = || {
            let mut env = self.wrk_env();
            env.extend(extra.iter().cloned());
            env
        };
        wrk::run(self.cfg, script, &api.url(), self.cfg.warmup, &env()).await?;
        let cpu = api.cpu_seconds();
        let load = wrk::run(self.cfg, script, &api.url(), self.cfg.duration, &env()).await?;
        let cpu = api.cpu_seconds() - cpu;
        Ok(ApiRow {
            scenario: scenario.to_string(),
            api_cpu_seconds_per_1k: cpu / load.requests.max(1) as f64 * 1000.0,
            api_peak_rss_mib: api.peak_rss_mib(),
            load,
            exact: None,
            minimal: None,
        })
    }

    pub async fn limit(&self, script: Option<Script>) -> anyhow::Result<Option<Limit>> {
        let Some(script) = script.filter(|_| self.cfg.pgbench) else {
            return Ok(None);
        };
        eprintln!("[bench] pgbench {}", script.name);
        self.checkpoint().await?;
        // A shorter warm-up: pgbench has no caches of its own to fill.
        let warmup = self.cfg.warmup.min(Duration::from_secs(2));
        Ok(Some(
            pgbench::limit(
                self.cfg,
                &script,
                &self.pg_vars(),
                warmup,
                self.cfg.duration,
            )
            .await?,
        ))
    }
}

fn asset(ctx: &Context<'_>, name: &'static str) -> anyhow::Result<Script> {
    let path = ctx.cfg.assets.join("pgbench").join(format!("{name}.sql"));
    Ok(Script {
        name,
        body: std::fs::read_to_string(&path).with_context(|| path.display().to_string())?,
    })
}

/// The HTTP scenarios. The read-by-id run happens twice: with the cache off (every read goes
/// to PostgreSQL), then on a fresh API process with the cache on and warmed by the warm-up.
pub async fn api(ctx: &Context<'_>, summary: &mut Summary) -> anyhow::Result<()> {
    let cfg = ctx.cfg;
    let uncached = ctx.env.with(&[("CACHE_TTL_SECONDS", "0".into())]);
    let api = Process::api(cfg, &uncached, "api-cache-off").await?;
    if cfg.runs("health") {
        let row = ctx.measure(&api, "GET /health", "health").await?;
        summary.api.push(row);
    }
    if cfg.runs("read") {
        let mut row = ctx
            .measure(&api, "GET /orders/{id} (cache off)", "read")
            .await?;
        row.exact = ctx.limit(Some(exact::read())).await?;
        row.minimal = ctx.limit(Some(asset(ctx, "read_min")?)).await?;
        summary.api.push(row);
    }
    if cfg.runs("list") {
        let mut row = ctx
            .measure(&api, "GET /orders?status=pending (page of 20)", "list")
            .await?;
        row.exact = ctx.limit(Some(exact::list())).await?;
        summary.api.push(row);
    }
    if cfg.runs("create") {
        let mut row = ctx
            .measure(&api, "POST /orders (3 items)", "create")
            .await?;
        row.exact = ctx.limit(Some(exact::create())).await?;
        row.minimal = ctx.limit(Some(asset(ctx, "create_min")?)).await?;
        summary.api.push(row);
    }
    if cfg.runs("login") {
        let row = ctx
            .measure(&api, "POST /auth/login (argon2id)", "login")
            .await?;
        summary.api.push(row);
    }
    if cfg.runs("limits") {
        summary.limits = Some(limits(ctx, &api, summary).await?);
    }
    api.stop().await?;

    if cfg.runs("read-cached") {
        let api = Process::api(cfg, ctx.env, "api-cache-on").await?;
        let mut row = ctx
            .measure(&api, "GET /orders/{id} (cache warm)", "read")
            .await?;
        let uncached = summary
            .api
            .iter()
            .find(|r| r.scenario.starts_with("GET /orders/{id}"));
        row.exact = uncached.and_then(|r| r.exact.clone());
        row.minimal = uncached.and_then(|r| r.minimal.clone());
        summary.cache_hit_ratio = cache_hit_ratio(&api).await;
        summary.api.push(row);
        api.stop().await?;
    }
    Ok(())
}

/// Connections reading during the login burst (other clients, as it were).
const READERS: u32 = 16;
/// Clients logging in at once.
const LOGINS: u32 = 200;

/// What abuse resistance costs and protects: reads by 16 clients alone and then while 200
/// clients log in at once (argon2 saturated), and reads with the rate limiter switched off
/// (`RATE_LIMIT_ENABLED=false`) against the same read with it on.
async fn limits(
    ctx: &Context<'_>,
    api: &Process,
    summary: &Summary,
) -> anyhow::Result<LimitsResult> {
    let cfg = ctx.cfg;
    let env = ctx.wrk_env();
    let url = api.url();
    eprintln!("[bench] limits: {READERS} readers alone");
    ctx.checkpoint().await?;
    wrk::run_with(cfg, "read", &url, cfg.warmup, &env, READERS).await?;
    let read_alone = wrk::run_with(cfg, "read", &url, cfg.duration, &env, READERS).await?;
    eprintln!("[bench] limits: {READERS} readers during {LOGINS} concurrent logins");
    ctx.checkpoint().await?;
    let (read_during, logins) = tokio::join!(
        wrk::run_with(cfg, "read", &url, cfg.duration, &env, READERS),
        wrk::run_with(cfg, "login", &url, cfg.duration, &env, LOGINS),
    );
    eprintln!("[bench] limits: reads with the rate limiter off");
    let unlimited_env = ctx.env.with(&[
        ("CACHE_TTL_SECONDS", "0".into()),
        ("RATE_LIMIT_ENABLED", "false".into()),
    ]);
    let unlimited = Process::api(cfg, &unlimited_env, "api-limits-off").await?;
    let row = ctx
        .measure(
            &unlimited,
            "GET /orders/{id} (cache off, no rate limiter)",
            "read",
        )
        .await?;
    unlimited.stop().await?;
    let limited_rps = summary
        .api
        .iter()
        .find(|r| r.scenario == "GET /orders/{id} (cache off)")
        .map(|r| r.load.rps);
    Ok(LimitsResult {
        read_alone,
        read_during_logins: read_during?,
        logins: logins?,
        read_limited_rps: limited_rps,
        read_unlimited: row.load,
    })
}

/// Hits / (hits + misses) from the API's `/metrics`, if it exports them.
async fn cache_hit_ratio(api: &Process) -> Option<f64> {
    let text = reqwest::get(api.metrics_url())
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let sum = |outcome: &str| -> f64 {
        text.lines()
            .filter(|l| {
                l.starts_with("orderflow_cache_requests_total")
                    && l.contains(&format!("outcome=\"{outcome}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let (hits, misses) = (sum("hit"), sum("miss"));
    (hits + misses > 0.0).then(|| hits / (hits + misses))
}

/// No-op throughput, emails drained by 1 and 3 worker processes, and enqueue→email latency.
pub async fn worker(
    ctx: &Context<'_>,
    smtp: &orderflow_testkit::smtp::SmtpServer,
    namespace: &str,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let cfg = ctx.cfg;
    if !cfg.runs("worker") {
        return Ok(());
    }
    eprintln!("[bench] no-op jobs through apalis-redis");
    summary.noop = Some(jobs::noop_throughput(ctx.env, namespace, cfg.emails * 5).await?);
    let mut first_order = 1;
    for workers in [1, 3] {
        eprintln!(
            "[bench] {} emails, {workers} worker process(es)",
            cfg.emails
        );
        let result =
            jobs::drain(cfg, ctx.env, ctx.db, smtp, workers, first_order, cfg.emails).await?;
        first_order += cfg.emails as i64;
        summary.drains.push(result);
    }
    // Half the rate the system sustains: the slower of three workers and the API's creates.
    let create_rps = summary
        .api
        .iter()
        .find(|r| r.scenario.starts_with("POST /orders"))
        .map_or(f64::INFINITY, |r| r.load.rps);
    let emails = summary.drains.last().map_or(100.0, |d| d.emails_per_s);
    let rate = (create_rps.min(emails) / 2.0).max(1.0);
    eprintln!("[bench] enqueue→email latency at {rate:.0} orders/s");
    let api = Process::api(cfg, ctx.env, "api-latency").await?;
    let seconds = if cfg.quick { 5 } else { 10 };
    summary.latency = Some(
        jobs::latency(
            cfg,
            ctx.env,
            ctx.db,
            smtp,
            &api.url(),
            &ctx.tokens.customer_pairs,
            (ctx.ids.first_product, cfg.products),
            (3, rate, Duration::from_secs(seconds)),
        )
        .await?,
    );
    api.stop().await?;
    Ok(())
}
