//! One fault's world: a fresh database in the run's PostgreSQL cluster, a Redis namespace of
//! its own on the run's Redis, an SMTP server in this process, the API and workers as child
//! processes (release binaries), and an admin, a customer and a product to order.

use anyhow::{Context, bail};
use orderflow_testkit::smtp::{Running, SmtpServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{PgPool, postgres::PgPoolOptions};
use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    time::{Duration, Instant},
};

use crate::proc::{Proc, free_port};

/// What every fault shares: where the binaries and logs are, the PostgreSQL cluster and
/// Redis of the run.
pub struct Run {
    pub bin_dir: PathBuf,
    pub log_dir: PathBuf,
    /// `postgres://postgres@127.0.0.1:55432` (no database).
    pub pg_base: String,
    /// `pg_ctlcluster VERSION NAME` of that cluster.
    pub pg_cluster: (String, String),
    pub redis: std::sync::Mutex<crate::redis_server::RedisServer>,
    pub redis_url: String,
    pub orders: usize,
    pub smtp_down: Duration,
}

impl Run {
    /// `pg_ctlcluster VERSION NAME start|stop|restart` (stops are `-m fast`).
    pub fn postgres(&self, action: &str) -> anyhow::Result<()> {
        let (version, name) = &self.pg_cluster;
        let mut cmd = std::process::Command::new("pg_ctlcluster");
        cmd.args(["--skip-systemctl-redirect", version, name, action]);
        if action == "stop" || action == "restart" {
            cmd.args(["-m", "fast"]);
        }
        let status = cmd.status().context("pg_ctlcluster")?;
        if !status.success() {
            bail!("pg_ctlcluster {version} {name} {action} failed");
        }
        Ok(())
    }
}

pub struct Stack {
    pub name: String,
    pub env: BTreeMap<String, String>,
    pub api: String,
    pub client: reqwest::Client,
    pub smtp: Running,
    pub db: PgPool,
    pub admin: String,
    pub customer: (String, i64),
    pub product: i64,
    pub workers: Vec<Proc>,
    started_workers: usize,
    api_proc: Proc,
    database: String,
    pg_base: String,
    bin_dir: PathBuf,
    log_dir: PathBuf,
}

/// Places orders as the stack's customer; cheap to clone into a task of its own.
#[derive(Clone)]
pub struct Orderer {
    api: String,
    client: reqwest::Client,
    token: String,
    customer: i64,
    product: i64,
}

/// An order placement as the client saw it.
pub struct Placed {
    pub status: StatusCode,
    pub id: Option<i64>,
    pub took: Duration,
}

/// The environment every OrderFlow process of one world gets: production settings, its own
/// database, Redis namespace and SMTP server, quotas that never refuse.
pub fn base_env(run: &Run, name: &str, database: &str, smtp_port: u16) -> BTreeMap<String, String> {
    let secret: String = (0..48)
        .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
        .collect();
    [
        ("APP_ENV", "production".to_string()),
        ("APP_PUBLIC_URL", "https://shop.chaos.example".into()),
        // The faults are about order emails; registration is not under test here.
        ("EMAIL_VERIFICATION_REQUIRED", "false".into()),
        ("APP_HOST", "127.0.0.1".into()),
        ("LOG_FORMAT", "json".into()),
        (
            "RUST_LOG",
            std::env::var("CHAOS_RUST_LOG").unwrap_or_else(|_| "info".into()),
        ),
        ("JWT_SECRET", secret),
        ("DATABASE_URL", format!("{}/{database}", run.pg_base)),
        ("REDIS_URL", run.redis_url.clone()),
        (
            "REDIS_KEY_PREFIX",
            format!("chaos-{name}-{}", uuid::Uuid::new_v4().simple()),
        ),
        ("FIRST_ADMIN_EMAIL", "admin@chaos.example".into()),
        ("FIRST_ADMIN_PASSWORD", "chaos-admin-password".into()),
        ("ACCESS_TOKEN_TTL_SECONDS", "7200".into()),
        ("PENDING_ORDER_TTL_SECONDS", "86400".into()),
        ("SMTP_HOST", "127.0.0.1".into()),
        ("SMTP_PORT", smtp_port.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(
        orderflow_testkit::UNREFUSING_QUOTAS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    )
    .collect()
}

impl Stack {
    /// Starts the API and `workers` workers with `extra` settings on top of the defaults.
    pub async fn start(
        run: &Run,
        name: &str,
        extra: &[(&str, String)],
        workers: usize,
    ) -> anyhow::Result<Self> {
        let smtp = SmtpServer::start().await;
        let database = format!(
            "orderflow_chaos_{name}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut env = base_env(run, name, &database, smtp.port());
        for (k, v) in extra {
            env.insert(k.to_string(), v.clone());
        }
        let port = free_port();
        let mut api_env = env.clone();
        api_env.insert("APP_PORT".into(), port.to_string());
        api_env
            .entry("API_METRICS_PORT".into())
            .or_insert_with(|| free_port().to_string());
        let api_proc = Proc::start(
            &run.bin_dir.join("orderflow-api"),
            &["serve"],
            &api_env,
            (&run.log_dir, &format!("{name}-api")),
            port,
        )
        .await?;
        let api = format!("http://127.0.0.1:{port}");
        let db = PgPoolOptions::new()
            .max_connections(2)
            .connect(&format!("{}/{database}", run.pg_base))
            .await?;
        let client = reqwest::Client::new();
        let mut stack = Self {
            name: name.into(),
            env,
            api,
            client,
            smtp,
            db,
            admin: String::new(),
            customer: (String::new(), 0),
            product: 0,
            workers: Vec::new(),
            started_workers: 0,
            api_proc,
            database,
            pg_base: run.pg_base.clone(),
            bin_dir: run.bin_dir.clone(),
            log_dir: run.log_dir.clone(),
        };
        stack.admin = stack
            .login("admin@chaos.example", "chaos-admin-password")
            .await?;
        stack.product = stack.create_product().await?;
        stack.customer = stack.register("buyer@chaos.example").await?;
        for _ in 0..workers {
            stack.start_worker().await?;
        }
        Ok(stack)
    }

    pub async fn start_worker(&mut self) -> anyhow::Result<()> {
        let port = free_port();
        let mut env = self.env.clone();
        env.insert("WORKER_PORT".into(), port.to_string());
        env.insert("WORKER_HOST".into(), "127.0.0.1".into());
        self.started_workers += 1;
        let name = format!("{}-worker-{}", self.name, self.started_workers);
        let worker = Proc::start(
            &self.bin_dir.join("orderflow-worker"),
            &[],
            &env,
            (&self.log_dir, &name),
            port,
        )
        .await?;
        self.workers.push(worker);
        Ok(())
    }

    pub fn orderer(&self) -> Orderer {
        Orderer {
            api: self.api.clone(),
            client: self.client.clone(),
            token: self.customer.0.clone(),
            customer: self.customer.1,
            product: self.product,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    async fn login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let r = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .form(&[("username", email), ("password", password)])
            .send()
            .await?;
        let body: Value = r.json().await?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("login failed: {body}"))
    }

    async fn register(&self, email: &str) -> anyhow::Result<(String, i64)> {
        let password = "buyer-password-1";
        let r = self
            .client
            .post(self.url("/api/v1/auth/register"))
            .json(&json!({"email": email, "password": password, "name": "Chaos Buyer"}))
            .send()
            .await?;
        let body: Value = r.json().await?;
        let customer = body["customer_id"]
            .as_i64()
            .with_context(|| format!("register failed: {body}"))?;
        Ok((self.login(email, password).await?, customer))
    }

    async fn create_product(&self) -> anyhow::Result<i64> {
        let r = self
            .client
            .post(self.url("/api/v1/products"))
            .bearer_auth(&self.admin)
            .json(&json!({"sku": "CHAOS-1", "name": "Lamp", "price": "20.00"}))
            .send()
            .await?;
        let body: Value = r.json().await?;
        body["id"]
            .as_i64()
            .with_context(|| format!("product not created: {body}"))
    }

    /// The confirmation emails received so far: order id → Message-IDs (one per copy).
    pub fn confirmations(&self) -> HashMap<i64, Vec<String>> {
        let mut by_order: HashMap<i64, Vec<String>> = HashMap::new();
        for message in self.smtp.messages() {
            let parsed = message.parsed();
            if !parsed.subject().unwrap_or_default().contains("received") {
                continue;
            }
            let order = parsed
                .header_raw("X-OrderFlow-Order-Id")
                .and_then(|v| v.trim().parse().ok());
            if let Some(order) = order {
                let id = parsed.message_id().unwrap_or_default().to_string();
                by_order.entry(order).or_default().push(id);
            }
        }
        by_order
    }

    /// Waits until every order in `orders` has a confirmation; Err after `limit`.
    pub async fn wait_confirmed(&self, orders: &[i64], limit: Duration) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.confirmations();
            let missing = orders.iter().filter(|o| !got.contains_key(o)).count();
            if missing == 0 {
                return Ok(Instant::now());
            }
            if Instant::now() > deadline {
                bail!(
                    "{missing} of {} orders without a confirmation after {limit:?}",
                    orders.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn scalar(&self, sql: &'static str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(sql).fetch_one(&self.db).await?)
    }

    /// Drops the row's database (its processes are gone by then).
    pub async fn finish(self) -> anyhow::Result<()> {
        let Self {
            db,
            workers,
            api_proc,
            database,
            pg_base,
            ..
        } = self;
        db.close().await;
        for w in workers {
            w.kill().await;
        }
        api_proc.kill().await;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&format!("{pg_base}/postgres"))
            .await?;
        // The name is ours (letters, digits, '_'), not input.
        let drop = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
        sqlx::query(sqlx::AssertSqlSafe(drop))
            .execute(&admin)
            .await?;
        Ok(())
    }
}

impl Orderer {
    /// Places one order for the customer (with an Idempotency-Key when given).
    pub async fn place(&self, key: Option<&str>) -> Placed {
        let started = Instant::now();
        let mut request = self
            .client
            .post(format!("{}/api/v1/orders", self.api))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30))
            .json(&json!({
                "customer_id": self.customer,
                "items": [{"product_id": self.product, "quantity": 1}]
            }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        match request.send().await {
            Ok(r) => {
                let status = r.status();
                let id = r.json::<Value>().await.ok().and_then(|b| b["id"].as_i64());
                Placed {
                    status,
                    id,
                    took: started.elapsed(),
                }
            }
            Err(_) => Placed {
                status: StatusCode::BAD_GATEWAY,
                id: None,
                took: started.elapsed(),
            },
        }
    }

    /// Places `n` orders, `parallel` at a time; every one must be a 201.
    pub async fn place_many(&self, n: usize, parallel: usize) -> anyhow::Result<Vec<i64>> {
        use futures::StreamExt;
        let placed: Vec<Placed> = futures::stream::iter(0..n)
            .map(|_| self.place(None))
            .buffer_unordered(parallel)
            .collect()
            .await;
        let mut ids = Vec::with_capacity(n);
        for p in placed {
            match (p.status, p.id) {
                (StatusCode::CREATED, Some(id)) => ids.push(id),
                (status, _) => bail!("an order was answered {status}"),
            }
        }
        Ok(ids)
    }
}

/// Copies per order: (orders without an email, orders with copies under different
/// Message-IDs, extra copies under the same Message-ID).
pub fn copies(orders: &[i64], got: &HashMap<i64, Vec<String>>) -> (usize, usize, usize) {
    let (mut lost, mut different, mut same) = (0, 0, 0);
    for order in orders {
        match got.get(order) {
            None => lost += 1,
            Some(ids) => {
                let mut distinct = ids.clone();
                distinct.sort();
                distinct.dedup();
                different += usize::from(distinct.len() > 1);
                same += ids.len() - distinct.len();
            }
        }
    }
    (lost, different, same)
}
