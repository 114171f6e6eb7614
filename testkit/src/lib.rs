//! Test support for OrderFlow's suites and benchmarks (never a dependency of the binaries):
//! throwaway PostgreSQL databases, Redis key cleanup, a real SMTP server on loopback and a
//! PostgreSQL protocol proxy that holds or delays the server's replies (`pg_proxy`).

pub mod otlp;
pub mod pg_proxy;
pub mod redis_server;
pub mod seed;
pub mod smtp;

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// The PostgreSQL server tests use, without a database name (`TEST_PG_BASE_URL`).
pub fn pg_base() -> String {
    std::env::var("TEST_PG_BASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432".into())
}

/// The Redis tests use (`TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A database of its own for one test, dropped (connections and all) when this goes away.
pub struct TestDatabase {
    pub name: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let name = format!("orderflow_test_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&format!("{}/postgres", pg_base()))
            .await
            .expect("PostgreSQL reachable for tests (scripts/test.sh starts it)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        Self { name }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", pg_base(), self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        block_on_thread(async move {
            if let Ok(mut conn) = PgConnection::connect(&format!("{}/postgres", pg_base())).await {
                let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                    .execute(&mut conn)
                    .await;
            }
        });
    }
}

/// Deletes every Redis key under `namespace:`.
pub async fn delete_redis_keys(namespace: &str) {
    if let Ok(client) = redis::Client::open(redis_url())
        && let Ok(mut conn) = client.get_multiplexed_async_connection().await
    {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{namespace}:*"))
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> =
                redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
        }
    }
}

/// Runs `work` to completion on a fresh runtime in its own thread: usable from `Drop` inside
/// an async test, whose own runtime cannot be blocked on.
pub fn block_on_thread(work: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(work);
    })
    .join();
}

/// A free TCP port on loopback (bound, then released for a process to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on loopback")
        .port()
}

/// Request quotas so large they never refuse, yet still checked (one Redis round trip per
/// request, as in production): for the benchmark and the fault script, where one client
/// sends everything.
pub const UNREFUSING_QUOTAS: [(&str, &str); 8] = [
    ("API_RATE_LIMIT_BURST", "1000000000"),
    ("API_RATE_LIMIT_REPLENISH_MS", "1"),
    ("AUTH_RATE_LIMIT_BURST", "1000000000"),
    ("AUTH_RATE_LIMIT_REPLENISH_MS", "1"),
    ("USER_WRITE_RATE_LIMIT_BURST", "1000000000"),
    ("USER_WRITE_RATE_LIMIT_REPLENISH_MS", "1"),
    ("USER_READ_RATE_LIMIT_BURST", "1000000000"),
    ("USER_READ_RATE_LIMIT_REPLENISH_MS", "1"),
];
