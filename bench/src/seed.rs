//! A fresh database seeded with customers, users, products and historical orders (deterministic
//! pseudo-random data generated inside PostgreSQL), and access tokens for its users.

use anyhow::Context;
use orderflow_api::auth::{jwt::JwtKeys, password::Passwords};
use orderflow_shared::{domain::Role, settings::ApiSettings};
use secrecy::SecretString;
use sqlx::{Connection, PgConnection, PgPool};
use std::{io::Write, path::PathBuf};

use orderflow_testkit::seed::Shop;

use crate::{config::Config, process::Env};

/// Every seeded user's password (the login scenario uses it).
pub const PASSWORD: &str = "bench-password-1";
/// Staff users: reads and lists are made with their tokens.
const STAFF: i64 = 16;
/// Customers whose tokens place orders.
const ORDERING_CUSTOMERS: i64 = 200;

pub async fn recreate_database(cfg: &Config) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(&format!("{}/postgres", cfg.pg_base))
        .await
        .context("PostgreSQL reachable (scripts/bench.sh starts it)")?;
    sqlx::raw_sql("DROP DATABASE IF EXISTS orderflow_bench WITH (FORCE)")
        .execute(&mut admin)
        .await?;
    sqlx::raw_sql("CREATE DATABASE orderflow_bench")
        .execute(&mut admin)
        .await?;
    Ok(())
}

/// Seeds the migrated database. Returns how long it took.
pub async fn seed(cfg: &Config, db: &PgPool) -> anyhow::Result<std::time::Duration> {
    let started = std::time::Instant::now();
    let hash = Passwords::new(1, 1, std::time::Duration::from_secs(60))?
        .hash(SecretString::from(PASSWORD.to_string()))
        .await?;
    let (customers, products, orders) = (cfg.customers, cfg.products, cfg.orders);
    // A day's worth of keys at the default size; capped for the growth run's larger ones.
    let keys = (orders / 10).min(100_000);
    let sql = format!(
        "SELECT setseed(0.42);
         INSERT INTO customers (name, email, tier)
           SELECT 'Bench Customer ' || g, 'customer' || g || '@bench.example',
                  (ARRAY['free', 'pro', 'enterprise'])[1 + g % 3]
           FROM generate_series(1, {customers}) g;
         INSERT INTO users (email, name, password_hash, role, customer_id)
           SELECT email, name, '{hash}', 'customer', id FROM customers
           WHERE email LIKE 'customer%@bench.example';
         INSERT INTO users (email, name, password_hash, role)
           SELECT 'staff' || g || '@bench.example', 'Bench Staff ' || g, '{hash}', 'staff'
           FROM generate_series(1, {STAFF}) g;
         -- Seeded addresses count as verified (the column exists from migration 0006 on; the
         -- benchmark also measures builds from before it).
         DO $$ BEGIN
           IF EXISTS (SELECT 1 FROM information_schema.columns
                      WHERE table_name = 'users' AND column_name = 'email_verified_at') THEN
             EXECUTE 'UPDATE users SET email_verified_at = now()';
           END IF;
         END $$;
         INSERT INTO products (sku, name, price)
           SELECT 'BENCH-' || g, 'Bench product ' || g, round((1 + random() * 199)::numeric, 2)
           FROM generate_series(1, {products}) g;
         -- A day's worth of Idempotency-Keys, as a running service holds: without any, the
         -- planner's statistics say the table is empty and prepared statements keep a plan
         -- that scans it (seen here: every create read all keys once it grew).
         INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response_body, expires_at)
           SELECT u.id, 'seed-' || g, '\\x00'::bytea, 201, '{{}}'::jsonb, now() + interval '1 day'
           FROM generate_series(1, {keys}) g
           JOIN users u ON u.id = (SELECT min(id) FROM users WHERE role = 'customer') + g % {customers};"
    );
    let mut conn = db.acquire().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await?;
    // The orders (testkit's generator, shared with the plan tests), in batches with progress.
    let shop = Shop {
        orders,
        customers,
        products,
    };
    let mut last_report = std::time::Instant::now();
    orderflow_testkit::seed::load(&mut conn, shop, 1_000_000, |done| {
        if done == orders || last_report.elapsed().as_secs() >= 5 {
            eprintln!(
                "[bench] seeded {done} of {orders} orders ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
            last_report = std::time::Instant::now();
        }
    })
    .await?;
    Ok(started.elapsed())
}

/// Token files for wrk: `token customer_id` per line (0 for staff).
pub struct Tokens {
    pub customers: PathBuf,
    pub staff: PathBuf,
    /// (customer token, customer id) pairs, for the latency run's own client.
    pub customer_pairs: Vec<(String, i64)>,
}

pub async fn tokens(cfg: &Config, env: &Env, db: &PgPool) -> anyhow::Result<Tokens> {
    let settings = ApiSettings::from_lookup(|k| env.lookup(k))?;
    let keys = JwtKeys::new(&settings.jwt);
    let customers: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, customer_id FROM users WHERE role = 'customer' ORDER BY id LIMIT $1",
    )
    .bind(ORDERING_CUSTOMERS)
    .fetch_all(db)
    .await?;
    let staff: Vec<i64> = sqlx::query_scalar("SELECT id FROM users WHERE role = 'staff'")
        .fetch_all(db)
        .await?;
    // Each token belongs to a session of its own (migration 0006 on; the benchmark also
    // measures builds from before it, which ignore the claim).
    let has_sessions: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_name = 'sessions')",
    )
    .fetch_one(db)
    .await?;
    let session = |user_id: i64| {
        let db = db.clone();
        async move {
            let sid = uuid::Uuid::new_v4();
            if has_sessions {
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, expires_at) \
                     VALUES ($1, $2, now() + interval '1 day')",
                )
                .bind(sid)
                .bind(user_id)
                .execute(&db)
                .await?;
            }
            anyhow::Ok(sid)
        }
    };
    let mut customer_pairs = Vec::new();
    let mut lines = String::new();
    for (user_id, customer_id) in customers {
        let token = keys.issue(user_id, session(user_id).await?, Role::Customer)?;
        lines.push_str(&format!("{token} {customer_id}\n"));
        customer_pairs.push((token, customer_id));
    }
    let customers_path = cfg.out_dir.join("customer_tokens.txt");
    std::fs::File::create(&customers_path)?.write_all(lines.as_bytes())?;
    let mut lines = String::new();
    for user_id in staff {
        let sid = session(user_id).await?;
        lines.push_str(&format!("{} 0\n", keys.issue(user_id, sid, Role::Staff)?));
    }
    let staff_path = cfg.out_dir.join("staff_tokens.txt");
    std::fs::File::create(&staff_path)?.write_all(lines.as_bytes())?;
    Ok(Tokens {
        customers: customers_path,
        staff: staff_path,
        customer_pairs,
    })
}
