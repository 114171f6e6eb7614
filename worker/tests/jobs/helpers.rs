//! A whole OrderFlow stack per test: a fresh PostgreSQL database, its own Redis key namespace,
//! a test SMTP server, the API in-process, and workers in-process or as child processes.

use orderflow_api::Application;
use orderflow_shared::db::Pool;
use orderflow_shared::settings::{ApiSettings, WorkerSettings};
use orderflow_worker::Worker;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    time::Duration,
};
use tokio::sync::oneshot;
use uuid::Uuid;

use orderflow_testkit::{
    TestDatabase, delete_redis_keys, redis_url,
    smtp::{Running, SmtpServer},
};

pub const ADMIN_EMAIL: &str = "admin@orderflow.test";
pub const ADMIN_PASSWORD: &str = "admin-password-123";
pub const PASSWORD: &str = "customer-password-1";

pub struct Stack {
    pub api: String,
    /// The API's metrics listener, `127.0.0.1:port`.
    pub api_metrics: String,
    pub client: Client,
    pub db: Pool,
    pub smtp: Running,
    pub vars: HashMap<String, String>,
    _database: TestDatabase,
    namespace: String,
    _api_stop: oneshot::Sender<()>,
    workers: Vec<oneshot::Sender<()>>,
}

impl Stack {
    /// Starts a fresh database, an SMTP server and the API (no worker yet).
    pub async fn start(overrides: &[(&str, &str)]) -> Stack {
        let smtp = SmtpServer::start().await;
        let database = TestDatabase::create().await;
        let namespace = format!("orderflow-test-{}", Uuid::new_v4().simple());
        let mut vars: HashMap<String, String> = [
            ("APP_ENV", "test".to_string()),
            ("APP_PORT", "0".into()),
            ("API_METRICS_PORT", "0".into()),
            ("WORKER_PORT", "0".into()),
            ("DATABASE_URL", database.url()),
            ("DATABASE_MAX_CONNECTIONS", "10".into()),
            ("REDIS_URL", redis_url()),
            ("REDIS_KEY_PREFIX", namespace.clone()),
            ("FIRST_ADMIN_EMAIL", ADMIN_EMAIL.into()),
            ("FIRST_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("AUTH_RATE_LIMIT_BURST", "1000".into()),
            ("USER_WRITE_RATE_LIMIT_BURST", "100000".into()),
            ("USER_READ_RATE_LIMIT_BURST", "100000".into()),
            // Quota checks need Redis' answer, not the local fallback, on a loaded machine.
            ("RATE_LIMIT_TIMEOUT_MS", "1000".into()),
            ("SMTP_HOST", "127.0.0.1".into()),
            ("SMTP_PORT", smtp.port().to_string()),
            ("SMTP_TIMEOUT_SECONDS", "5".into()),
            ("SMTP_FROM", "OrderFlow <orders@orderflow.test>".into()),
            ("WORKER_POLL_INTERVAL_MS", "50".into()),
            ("OUTBOX_SWEEP_INTERVAL_MS", "200".into()),
            ("JOB_BACKOFF_BASE_MS", "200".into()),
            ("JOB_BACKOFF_CAP_MS", "1000".into()),
            ("WORKER_HEARTBEAT_MS", "1000".into()),
            ("WORKER_MISSED_HEARTBEATS", "3".into()),
            ("WORKER_SHUTDOWN_TIMEOUT_SECONDS", "15".into()),
            ("JOB_TIMEOUT_SECONDS", "20".into()),
            ("PASSWORD_HASH_CONCURRENCY", "2".into()),
            ("LOG_FORMAT", "pretty".into()),
            // Order emails go to registered customers at once; `accounts.rs` turns it on.
            ("EMAIL_VERIFICATION_REQUIRED", "false".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in overrides {
            vars.insert(k.to_string(), v.to_string());
        }
        if std::env::var("TEST_LOG").is_ok() {
            let _ = orderflow_shared::telemetry::init(
                orderflow_shared::settings::LogFormat::Pretty,
                "info,orderflow_worker=debug",
                "orderflow-test",
            );
        }
        let app = Application::build(
            ApiSettings::from_lookup(|k| vars.get(k).cloned()).expect("valid test settings"),
        )
        .await
        .expect("api builds");
        let api = format!("http://{}", app.local_addr());
        let api_metrics = app.metrics_addr().to_string();
        let db = app.state().db.clone();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Stack {
            api,
            api_metrics,
            client: Client::new(),
            db,
            smtp,
            vars,
            _database: database,
            namespace,
            _api_stop: tx,
            workers: Vec::new(),
        }
    }

    /// The worker's settings (the core is `.core`).
    pub fn settings(&self) -> WorkerSettings {
        WorkerSettings::from_lookup(|k| self.vars.get(k).cloned()).expect("valid test settings")
    }

    /// The queues as this test's workers see them (a connection of their own).
    pub fn queues(&self) -> orderflow_shared::dispatch::Queues {
        let settings = self.settings();
        let conn = orderflow_shared::dispatch::redis_connection(&settings.core).unwrap();
        orderflow_shared::dispatch::Queues::new(
            conn,
            &settings.core.key_prefix,
            settings.queue_tuning(),
        )
    }

    /// Starts a worker in this process; it stops when the stack is dropped.
    pub async fn spawn_worker(&mut self) {
        let worker = Worker::build(self.settings()).await.expect("worker builds");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(worker.run_until(async {
            let _ = rx.await;
        }));
        self.workers.push(tx);
    }

    /// Starts `orderflow-worker` as a child process with this stack's settings.
    pub fn worker_process(&self) -> Child {
        self.worker_process_with(&[])
    }

    /// `worker_process` with some settings of its own (e.g. `WORKER_PORT`).
    pub fn worker_process_with(&self, extra: &[(&str, String)]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_orderflow-worker"))
            .env_clear()
            .envs(&self.vars)
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(if std::env::var("TEST_LOG").is_ok() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("worker binary starts")
    }

    /// `orderflow-worker` as a child process writing JSON log lines (info and up) to a pipe
    /// on its stdout, for tests that read what the worker logs.
    pub fn worker_process_logged(&self, extra: &[(&str, String)]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_orderflow-worker"))
            .env_clear()
            .envs(&self.vars)
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("worker binary starts")
    }

    /// Deletes every Redis key of this stack, as a Redis restart without persistence would.
    pub async fn lose_redis_data(&self) {
        delete_redis_keys(&self.namespace).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .form(&[("username", email), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn admin(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_at(&self.api, method, path, token, body, None)
            .await
            .unwrap()
    }

    /// `call` on another API instance (`base`), optionally with an `Idempotency-Key`; a
    /// connection failure (an instance that was killed) is returned, not a panic.
    pub async fn call_at(
        &self,
        base: &str,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> reqwest::Result<(StatusCode, Value)> {
        let mut request = self
            .client
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Registers a customer; returns (token, customer id).
    pub async fn customer(&self, email: &str, name: &str) -> (String, i64) {
        let r = self
            .client
            .post(self.url("/api/v1/auth/register"))
            .json(&json!({"email": email, "password": PASSWORD, "name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let customer_id = r.json::<Value>().await.unwrap()["customer_id"]
            .as_i64()
            .unwrap();
        (self.login(email, PASSWORD).await, customer_id)
    }

    pub async fn product(&self, admin: &str, sku: &str, name: &str, price: &str) -> i64 {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/products",
                admin,
                Some(json!({"sku": sku, "name": name, "price": price})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().unwrap()
    }

    pub async fn order(&self, token: &str, customer_id: i64, items: &[(i64, i64)]) -> Value {
        let items: Vec<Value> = items
            .iter()
            .map(|(p, q)| json!({"product_id": p, "quantity": q}))
            .collect();
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/orders",
                token,
                Some(json!({"customer_id": customer_id, "items": items})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn scalar(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db).await.unwrap()
    }

    /// Polls `sql` until it returns `expected` (or panics after `timeout`).
    pub async fn wait_scalar(&self, sql: &'static str, expected: i64, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let value = self.scalar(sql).await;
            if value == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{sql}: {value}, expected {expected}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Stops the workers and deletes the test's Redis keys (the database drops itself).
impl Drop for Stack {
    fn drop(&mut self) {
        for stop in self.workers.drain(..) {
            let _ = stop.send(());
        }
        let namespace = self.namespace.clone();
        orderflow_testkit::block_on_thread(async move { delete_redis_keys(&namespace).await });
    }
}

pub use orderflow_testkit::free_port;

/// A child process killed (and reaped) when the test ends, even by a failed assertion.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
