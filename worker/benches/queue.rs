//! Queue throughput and latency, measured in one run on this machine:
//!
//! 1. baseline: no-op jobs through apalis-redis (push N, then drain with one worker);
//! 2. confirmation emails through the whole pipeline (outbox → Redis → worker → SMTP);
//! 3. enqueue→email latency at a light, steady rate (commit of the outbox row to the SMTP
//!    server accepting the message).
//!
//! `cargo bench -p orderflow-worker --bench queue` (PostgreSQL and Redis on loopback, as for
//! the tests). `BENCH_JOBS` sets N (default 2000 no-op, N/4 emails); `WORKER_CONCURRENCY` the
//! jobs each worker runs at once (default 4, as in production).

use apalis::prelude::*;
use orderflow_shared::{
    db,
    dispatch::{self, Queues},
    domain::{Tier, order::PricedLine},
    settings::Settings,
};
use orderflow_testkit::{pg_base, smtp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection, PgPool};
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Noop {
    n: u64,
}

async fn noop(_job: Noop, done: Data<Arc<AtomicUsize>>) -> Result<(), BoxDynError> {
    done.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn settings(db_name: &str, namespace: &str, smtp_port: u16) -> Settings {
    let vars: HashMap<&str, String> = [
        ("APP_ENV", "test".to_string()),
        ("DATABASE_URL", format!("{}/{db_name}", pg_base())),
        ("REDIS_URL", orderflow_testkit::redis_url()),
        ("JOBS_NAMESPACE", namespace.to_string()),
        ("SMTP_PORT", smtp_port.to_string()),
        ("WORKER_PORT", "0".into()),
        ("WORKER_POLL_INTERVAL_MS", "100".into()),
        ("OUTBOX_SWEEP_INTERVAL_MS", "1000".into()),
        ("DATABASE_MAX_CONNECTIONS", "20".into()),
        (
            "WORKER_CONCURRENCY",
            std::env::var("WORKER_CONCURRENCY").unwrap_or_else(|_| "4".into()),
        ),
    ]
    .into_iter()
    .collect();
    Settings::from_lookup(|k| vars.get(k).cloned()).unwrap()
}

async fn wait_until(what: &str, timeout: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not finish within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Inserts orders (one line each) with their confirmation outbox rows; returns the row ids.
async fn orders(db: &PgPool, customer: i64, product: i64, n: usize) -> Vec<(i64, i64)> {
    let line = PricedLine {
        product_id: product,
        product_name: "Bench lamp".into(),
        quantity: 1,
        unit_price: Decimal::new(1999, 2),
    };
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let mut tx = db.begin().await.unwrap();
        let order = db::orders::insert(
            &mut tx,
            customer,
            line.unit_price,
            None,
            std::slice::from_ref(&line),
        )
        .await
        .unwrap();
        let outbox = db::outbox::enqueue_confirmation(&mut *tx, order, None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        ids.push((order, outbox));
    }
    ids
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let smtp = smtp::SmtpServer::start().await;
    let db_name = format!("orderflow_bench_{}", uuid::Uuid::new_v4().simple());
    let namespace = format!("orderflow-bench-{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&format!("{}/postgres", pg_base()))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{db_name}\""
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let settings = settings(&db_name, &namespace, smtp.port());
    let db = db::connect(&settings).await.unwrap();
    db::MIGRATOR.run(&db).await.unwrap();
    let redis = dispatch::redis_connection(&settings).unwrap();

    // 1. Baseline: no-op jobs.
    let storage: apalis_redis::RedisStorage<Noop> = apalis_redis::RedisStorage::new(redis.clone())
        .with_config(apalis_redis::Config::default().queue(format!("{namespace}:noop")));
    let started = Instant::now();
    for i in 0..n as u64 {
        dispatch::push_job(&storage, Noop { n: i }, None)
            .await
            .unwrap();
    }
    let push_rate = n as f64 / started.elapsed().as_secs_f64();
    let done = Arc::new(AtomicUsize::new(0));
    let (stop_noop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = WorkerBuilder::new(format!("bench-noop-{}", std::process::id()))
        .backend(
            storage
                .clone()
                .poll_with_interval(settings.worker.poll_interval),
        )
        .data(done.clone())
        .concurrency(settings.worker.concurrency)
        .build(noop);
    let started = Instant::now();
    tokio::spawn(async move {
        let _ = worker
            .run_until(async {
                let _ = stopped.await;
                Ok::<(), std::io::Error>(())
            })
            .await;
    });
    wait_until("no-op jobs", Duration::from_secs(300), || {
        done.load(Ordering::Relaxed) >= n
    })
    .await;
    let noop_rate = n as f64 / started.elapsed().as_secs_f64();
    let _ = stop_noop.send(());

    // 2. Emails through the whole pipeline.
    let customer = db::customers::insert(&db, "Bench Customer", "bench@example.com", Tier::Free)
        .await
        .unwrap()
        .id;
    let product = db::products::insert(&db, "BENCH-1", "Bench lamp", Decimal::new(1999, 2))
        .await
        .unwrap()
        .id;
    let emails = (n / 4).max(50);
    let queues = Queues::new(redis.clone(), &settings);
    let rows = orders(&db, customer, product, emails).await;
    while dispatch::sweep(&db, &queues).await.unwrap() > 0 {}
    let worker = orderflow_worker::Worker::build(settings.clone())
        .await
        .unwrap();
    let (stop_worker, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    tokio::spawn(worker.run_until(async {
        let _ = stopped.await;
    }));
    wait_until("emails", Duration::from_secs(300), || {
        smtp.messages().len() >= emails
    })
    .await;
    let email_rate = emails as f64 / started.elapsed().as_secs_f64();
    assert_eq!(rows.len(), emails);

    // 3. Latency at a light rate: 20 orders a second, dispatched right after commit as the API does.
    let samples = 200;
    let before = smtp.messages().len();
    let mut sent: HashMap<i64, Instant> = HashMap::new();
    for _ in 0..samples {
        let (order, outbox) = orders(&db, customer, product, 1).await[0];
        sent.insert(order, Instant::now());
        dispatch::dispatch_ids(&db, &queues, &[outbox])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_until("latency emails", Duration::from_secs(120), || {
        smtp.messages().len() >= before + samples
    })
    .await;
    let mut latencies: Vec<Duration> = smtp.messages()[before..]
        .iter()
        .map(|m| {
            let order: i64 = m
                .subject()
                .trim_start_matches("Order #")
                .trim_end_matches(" received")
                .parse()
                .unwrap();
            m.at.duration_since(sent[&order])
        })
        .collect();
    latencies.sort();
    let _ = stop_worker.send(());

    println!(
        "queue benchmark ({} CPUs, worker concurrency {}, poll {:?})",
        std::thread::available_parallelism().map_or(0, usize::from),
        settings.worker.concurrency,
        settings.worker.poll_interval
    );
    println!("  push to Redis:          {push_rate:>8.0} jobs/s   ({n} no-op pushes)");
    println!("  no-op jobs (baseline):  {noop_rate:>8.0} jobs/s   ({n} jobs) = 1.00");
    println!(
        "  confirmation emails:    {email_rate:>8.0} jobs/s   ({emails} jobs) = {:.2} × baseline",
        email_rate / noop_rate
    );
    println!(
        "  enqueue→email latency:  p50 {:?}, p99 {:?}, max {:?}   ({samples} orders at 20/s)",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );

    drop(db);
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    let mut conn = redis;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}:*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}
