//! The worker side: no-op jobs through apalis-redis (the queue's own ceiling), confirmation
//! emails drained by 1 and 3 `orderflow-worker` processes into a local SMTP sink, and
//! enqueue→email latency at a steady rate of orders placed through the API.

use anyhow::{Context, bail};
use apalis::prelude::*;
use futures::stream;
use orderflow_testkit::smtp::SmtpServer;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use crate::{
    config::Config,
    process::{Env, Process},
};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Noop {
    n: u64,
}

async fn noop(_job: Noop, done: Data<Arc<AtomicUsize>>) -> Result<(), BoxDynError> {
    done.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct NoopResult {
    pub jobs: usize,
    pub push_per_s: f64,
    pub jobs_per_s: f64,
}

/// Drains `n` no-op jobs with one in-process apalis worker configured as `orderflow-worker`
/// configures its queues (concurrency, batch size, poll interval), pushing them in batches of
/// 500 and keeping at most `dispatch::MAX_QUEUED` waiting in Redis, as the outbox sweep does.
pub async fn noop_throughput(env: &Env, namespace: &str, n: usize) -> anyhow::Result<NoopResult> {
    let settings = orderflow_shared::settings::WorkerSettings::from_lookup(|k| env.lookup(k))?;
    let mut conn = orderflow_shared::dispatch::redis_connection(&settings.core)?;
    let config = apalis_redis::Config::default()
        .queue(format!("{namespace}:noop"))
        .batch_size(settings.concurrency);
    let (scheduled, active) = (config.scheduled_jobs_set(), config.active_jobs_list());
    let storage: apalis_redis::RedisStorage<Noop> =
        apalis_redis::RedisStorage::new(conn.clone()).with_config(config);
    let done = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = WorkerBuilder::new(format!("bench-noop-{}", uuid::Uuid::new_v4().simple()))
        .backend(storage.clone().poll_with_interval(settings.poll_interval))
        .data(done.clone())
        .concurrency(settings.concurrency)
        .build(noop);
    let running = tokio::spawn(async move {
        let _ = worker
            .run_until(async {
                let _ = stopped.await;
                Ok::<(), std::io::Error>(())
            })
            .await;
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    let (mut pushed, mut push_time) = (0usize, Duration::ZERO);
    while done.load(Ordering::Relaxed) < n {
        if Instant::now() > deadline {
            bail!("no-op jobs did not drain in 300 s");
        }
        let (waiting_scheduled, waiting_active): (usize, usize) = redis::pipe()
            .cmd("ZCARD")
            .arg(&scheduled)
            .cmd("LLEN")
            .arg(&active)
            .query_async(&mut conn)
            .await?;
        if pushed < n
            && waiting_scheduled + waiting_active + 500 <= orderflow_shared::dispatch::MAX_QUEUED
        {
            let batch = (n - pushed).min(500);
            let tasks: Vec<_> = (pushed..pushed + batch)
                .map(|i| TaskBuilder::new(Noop { n: i as u64 }).build())
                .collect();
            let at = Instant::now();
            storage
                .clone()
                .push_all(stream::iter(tasks))
                .await
                .map_err(|e| anyhow::anyhow!("push: {e}"))?;
            push_time += at.elapsed();
            pushed += batch;
        } else {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let jobs_per_s = n as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), running).await;
    Ok(NoopResult {
        jobs: n,
        push_per_s: n as f64 / push_time.as_secs_f64(),
        jobs_per_s,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct DrainResult {
    pub workers: usize,
    pub emails: usize,
    /// From the workers being up to the last email accepted.
    pub drain_seconds: f64,
    pub emails_per_s: f64,
    /// Orders that got more than one email (0 expected).
    pub duplicates: usize,
    pub worker_cpu_seconds: f64,
    pub worker_peak_rss_mib: f64,
}

/// Marks every unfinished outbox row done, so a drain run sees only its own jobs.
pub async fn park_outbox(db: &PgPool) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE outbox SET dispatched_at = COALESCE(dispatched_at, now()), completed_at = now(), \
         outcome = 'skipped', last_error = 'parked by the benchmark' WHERE completed_at IS NULL",
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Queues confirmation emails for orders `first..first+n` (as the order transaction does:
/// an outbox row each), starts `workers` worker processes and waits for every email.
#[allow(clippy::too_many_arguments)]
pub async fn drain(
    cfg: &Config,
    env: &Env,
    db: &PgPool,
    smtp: &SmtpServer,
    workers: usize,
    first_order: i64,
    n: usize,
) -> anyhow::Result<DrainResult> {
    park_outbox(db).await?;
    let before = smtp.count();
    sqlx::query(
        "INSERT INTO outbox (kind, payload) SELECT 'send_order_confirmation', \
         jsonb_build_object('order_id', id, 'request_id', NULL) FROM orders \
         WHERE id >= $1 ORDER BY id LIMIT $2",
    )
    .bind(first_order)
    .bind(n as i64)
    .execute(db)
    .await?;
    let mut processes = Vec::new();
    for i in 0..workers {
        processes.push(Process::worker(cfg, env, &format!("worker-{workers}x-{i}")).await?);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30 + n as u64 / 5);
    while smtp.count() < before + n {
        if Instant::now() > deadline {
            bail!(
                "{workers} worker(s) sent {} of {n} emails before the deadline",
                smtp.count() - before
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain_seconds = started.elapsed().as_secs_f64();
    let worker_cpu_seconds = processes.iter().map(Process::cpu_seconds).sum();
    let worker_peak_rss_mib = processes
        .iter()
        .map(Process::peak_rss_mib)
        .fold(0.0, f64::max);
    // A little longer: a duplicate would arrive after the last first copy.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for p in processes {
        p.stop().await?;
    }
    let mut per_order: HashMap<i64, usize> = HashMap::new();
    for m in smtp.messages_after(before) {
        *per_order.entry(order_of(&m.subject())?).or_default() += 1;
    }
    Ok(DrainResult {
        workers,
        emails: n,
        drain_seconds,
        emails_per_s: n as f64 / drain_seconds,
        duplicates: per_order.values().filter(|&&c| c > 1).count(),
        worker_cpu_seconds,
        worker_peak_rss_mib,
    })
}

/// The order number in a confirmation's subject ("Order #42 received").
fn order_of(subject: &str) -> anyhow::Result<i64> {
    subject
        .split('#')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no order number in subject {subject:?}"))
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyResult {
    pub workers: usize,
    pub orders_per_s: f64,
    pub orders: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Places orders through the API at `rate` per second for `duration` with `workers` worker
/// processes running, and measures from sending each POST to its email being accepted.
#[allow(clippy::too_many_arguments)]
pub async fn latency(
    cfg: &Config,
    env: &Env,
    db: &PgPool,
    smtp: &SmtpServer,
    api_url: &str,
    customers: &[(String, i64)],
    (first_product, products): (i64, i64),
    (workers, rate, duration): (usize, f64, Duration),
) -> anyhow::Result<LatencyResult> {
    park_outbox(db).await?;
    let mut processes = Vec::new();
    for i in 0..workers {
        processes.push(Process::worker(cfg, env, &format!("worker-latency-{i}")).await?);
    }
    let before = smtp.count();
    let client = reqwest::Client::new();
    let sent: Arc<std::sync::Mutex<HashMap<i64, Instant>>> = Default::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let total = (rate * duration.as_secs_f64()).round() as usize;
    let mut requests = Vec::with_capacity(total);
    for n in 0..total {
        tick.tick().await;
        let (token, customer_id) = customers[n % customers.len()].clone();
        let product = first_product + (n as i64 % products);
        let (client, sent, url) = (
            client.clone(),
            sent.clone(),
            format!("{api_url}/api/v1/orders"),
        );
        requests.push(tokio::spawn(async move {
            let at = Instant::now();
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({
                    "customer_id": customer_id,
                    "items": [{"product_id": product, "quantity": 1}]
                }))
                .send()
                .await?;
            if response.status() != reqwest::StatusCode::CREATED {
                bail!("POST /orders answered {}", response.status());
            }
            let body: serde_json::Value = response.json().await?;
            let id = body["id"].as_i64().context("order id")?;
            sent.lock().unwrap().insert(id, at);
            Ok(())
        }));
    }
    for r in requests {
        r.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while smtp.count() < before + total {
        if Instant::now() > deadline {
            bail!("only {} of {total} emails arrived", smtp.count() - before);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for p in processes {
        p.stop().await?;
    }
    let sent = sent.lock().unwrap().clone();
    let mut latencies: Vec<f64> = smtp
        .messages_after(before)
        .iter()
        .filter_map(|m| {
            let order = order_of(&m.subject()).ok()?;
            Some(m.at.duration_since(*sent.get(&order)?).as_secs_f64() * 1e3)
        })
        .collect();
    if latencies.len() < total {
        bail!(
            "only {} of {total} emails matched an order",
            latencies.len()
        );
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    Ok(LatencyResult {
        workers,
        orders_per_s: rate,
        orders: total,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: latencies[latencies.len() - 1],
    })
}
