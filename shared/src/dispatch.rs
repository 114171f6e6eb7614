//! Moving outbox rows into the apalis-redis queues: the worker's sweep claims due rows with
//! `FOR UPDATE SKIP LOCKED` (any number of workers can sweep), pushes them in one Lua call per
//! queue, and marks them dispatched in the claiming transaction: one commit per batch. A row
//! pushed but not yet marked (crash in between) is pushed again later, which the idempotent
//! handlers absorb. The API only *wakes* the sweep (`wake_channel`) after a commit that wrote
//! outbox rows: no second transaction, no Redis write on the request path.

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_redis::{Config, ConnectionManager, RedisStorage};
use futures::stream;
use redis::aio::ConnectionManagerConfig;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use std::time::Duration;

use crate::{
    db::{
        Pool,
        outbox::{self, OutboxRow},
    },
    jobs::{
        ExpirePendingOrder, JobKind, SendAccountEmail, SendOrderConfirmation,
        SendOrderStatusChanged,
    },
    settings::Settings,
};

/// How long one push may take before Redis counts as down for this pass.
const PUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Rows one sweep pass moves at most (the next pass takes the rest).
pub const SWEEP_BATCH: i64 = 200;
/// Jobs of one queue allowed to wait in Redis at once; the rest wait in the outbox.
///
/// apalis-redis 1.0 puts every pushed job in the queue's scheduled set, and its fetch moves
/// *all* due scheduled jobs to the active list with one Lua `unpack` (`lua/fetch_next.lua`).
/// Past ~8,000 due jobs that call fails ("too many results to unpack"), and keeps failing on
/// every fetch: the queue stops for good (seen here with 20,000 pushed jobs). Keeping Redis
/// below this bound makes that impossible, retries included, and bounds Redis' memory;
/// PostgreSQL holds any larger backlog, durably.
pub const MAX_QUEUED: usize = 2_000;

/// Handles on the job queues. Cheap to clone.
#[derive(Clone)]
pub struct Queues {
    pub confirmation: RedisStorage<SendOrderConfirmation>,
    pub status_changed: RedisStorage<SendOrderStatusChanged>,
    pub expiry: RedisStorage<ExpirePendingOrder>,
    pub account: RedisStorage<SendAccountEmail>,
    conn: ConnectionManager,
    configs: Vec<(JobKind, Config)>,
}

/// One queue's jobs in Redis by state (`Queues::depths`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth {
    pub kind: JobKind,
    pub scheduled: usize,
    pub ready: usize,
    pub running: usize,
}

/// A Redis connection that connects on first use and reconnects by itself, so neither binary
/// needs Redis up to start.
pub fn redis_connection(settings: &Settings) -> redis::RedisResult<ConnectionManager> {
    let client = redis::Client::open(settings.redis_url())?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(1);
    ConnectionManager::new_lazy_with_config(client, config)
}

/// The apalis-redis config of one queue: its name, the heartbeat whose silence marks a
/// worker dead (its in-flight jobs go back to the queue after `heartbeat × missed`), and how
/// many jobs one fetch takes: as many as the worker runs at once, so a fetch keeps every
/// slot busy (apalis fetches again as soon as the fetched jobs have all started).
pub fn queue_config(key_prefix: &str, kind: JobKind, tuning: QueueTuning) -> Config {
    Config::default()
        .queue(kind.queue(key_prefix))
        .heartbeat_interval(tuning.heartbeat)
        .missed_heartbeats(tuning.missed_heartbeats)
        .batch_size(tuning.batch_size)
}

/// How a consumer of the queues polls them (`WorkerSettings::queue_tuning`); a process that
/// only pushes (the API) takes the default, which nothing there reads.
#[derive(Debug, Clone, Copy)]
pub struct QueueTuning {
    pub heartbeat: Duration,
    pub missed_heartbeats: usize,
    pub batch_size: usize,
}

impl Default for QueueTuning {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(2),
            missed_heartbeats: 3,
            batch_size: 16,
        }
    }
}

impl Queues {
    /// The queues under `key_prefix` (`Settings::key_prefix`).
    pub fn new(conn: ConnectionManager, key_prefix: &str, tuning: QueueTuning) -> Self {
        let config = |kind| queue_config(key_prefix, kind, tuning);
        Self {
            confirmation: RedisStorage::new(conn.clone())
                .with_config(config(JobKind::OrderConfirmation)),
            status_changed: RedisStorage::new(conn.clone())
                .with_config(config(JobKind::OrderStatusChanged)),
            expiry: RedisStorage::new(conn.clone())
                .with_config(config(JobKind::ExpirePendingOrder)),
            account: RedisStorage::new(conn.clone()).with_config(config(JobKind::AccountEmail)),
            configs: JobKind::ALL
                .into_iter()
                .map(|kind| (kind, config(kind)))
                .collect(),
            conn,
        }
    }

    /// Jobs waiting in Redis per queue (scheduled and ready), in one round trip.
    pub async fn waiting(&self) -> anyhow::Result<Vec<(JobKind, usize)>> {
        let mut pipe = redis::pipe();
        for (_, config) in &self.configs {
            pipe.cmd("ZCARD")
                .arg(config.scheduled_jobs_set())
                .cmd("LLEN")
                .arg(config.active_jobs_list());
        }
        let mut conn = self.conn.clone();
        let counts: Vec<usize> = tokio::time::timeout(PUSH_TIMEOUT, pipe.query_async(&mut conn))
            .await
            .map_err(|_| anyhow::anyhow!("redis timed out"))
            .and_then(|r| r.map_err(anyhow::Error::from))
            .inspect_err(|_| crate::metrics::redis_error("dispatch"))?;
        Ok(self
            .configs
            .iter()
            .zip(counts.chunks(2))
            .map(|((kind, _), c)| (*kind, c.iter().sum()))
            .collect())
    }

    /// Jobs per queue and state, for `orderflow_queue_jobs`: scheduled (a future run time:
    /// retries with backoff), ready (due, waiting for a worker) and running (held by a
    /// worker). Two round trips: the counts and worker names, then each worker's in-flight set.
    pub async fn depths(&self) -> anyhow::Result<Vec<QueueDepth>> {
        let mut pipe = redis::pipe();
        for (_, config) in &self.configs {
            pipe.cmd("ZCARD")
                .arg(config.scheduled_jobs_set())
                .cmd("LLEN")
                .arg(config.active_jobs_list())
                .cmd("ZRANGE")
                .arg(config.workers_set())
                .arg(0)
                .arg(-1);
        }
        type Counts = Vec<(usize, usize, Vec<String>)>;
        let mut conn = self.conn.clone();
        let counts: Counts = tokio::time::timeout(PUSH_TIMEOUT, pipe.query_async(&mut conn))
            .await
            .map_err(|_| anyhow::anyhow!("redis timed out"))??;
        let mut running = redis::pipe();
        for ((_, config), (_, _, workers)) in self.configs.iter().zip(&counts) {
            for worker in workers {
                running
                    .cmd("SCARD")
                    .arg(format!("{}:{worker}", config.inflight_jobs_set()));
            }
        }
        let held: Vec<usize> = if counts.iter().all(|(_, _, w)| w.is_empty()) {
            Vec::new()
        } else {
            tokio::time::timeout(PUSH_TIMEOUT, running.query_async(&mut conn))
                .await
                .map_err(|_| anyhow::anyhow!("redis timed out"))??
        };
        let mut held = held.into_iter();
        Ok(self
            .configs
            .iter()
            .zip(counts)
            .map(|((kind, _), (scheduled, ready, workers))| QueueDepth {
                kind: *kind,
                scheduled,
                ready,
                running: held.by_ref().take(workers.len()).sum(),
            })
            .collect())
    }

    /// The kinds whose queues have room for a whole batch (see `MAX_QUEUED`).
    pub async fn with_room(&self) -> anyhow::Result<Vec<&'static str>> {
        let waiting = self.waiting().await?;
        let full: Vec<_> = waiting
            .iter()
            .filter(|(_, n)| n + SWEEP_BATCH as usize > MAX_QUEUED)
            .collect();
        if !full.is_empty() {
            tracing::debug!(?full, "queues full; their jobs wait in the outbox");
        }
        Ok(waiting
            .into_iter()
            .filter(|(_, n)| n + SWEEP_BATCH as usize <= MAX_QUEUED)
            .map(|(kind, _)| kind.as_str())
            .collect())
    }

    /// Pushes rows of one kind as their typed jobs (each payload gains its row's id), in one
    /// Lua call.
    pub async fn push_all(&self, kind: JobKind, rows: &[&OutboxRow]) -> anyhow::Result<()> {
        match kind {
            JobKind::OrderConfirmation => push_rows(&self.confirmation, rows).await,
            JobKind::OrderStatusChanged => push_rows(&self.status_changed, rows).await,
            JobKind::ExpirePendingOrder => push_rows(&self.expiry, rows).await,
            JobKind::AccountEmail => push_rows(&self.account, rows).await,
        }
    }
}

/// The Redis channel the API publishes on after committing outbox rows; sweeps listen.
pub fn wake_channel(settings: &Settings) -> String {
    format!("{}:outbox:wake", settings.key_prefix)
}

/// Adds `outbox_id` to the stored payload (and, to a traced one, when it is queued) and
/// decodes it as the job type.
pub fn job_from_row<T: DeserializeOwned>(row: &OutboxRow) -> anyhow::Result<T> {
    let mut payload = row.payload.clone();
    if let Value::Object(map) = &mut payload {
        map.insert("outbox_id".into(), Value::from(row.id));
        if let Some(Value::Object(trace)) = map.get_mut("trace") {
            let now = crate::telemetry::spans::to_unix_ms(std::time::SystemTime::now());
            trace.insert("queued_at_ms".into(), Value::from(now));
        }
    }
    Ok(serde_json::from_value(payload)?)
}

/// Pushes a job, optionally to run after `delay` (retries with backoff).
pub async fn push_job<T>(
    storage: &RedisStorage<T>,
    job: T,
    delay: Option<Duration>,
) -> anyhow::Result<()>
where
    T: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static,
{
    let mut storage = storage.clone();
    let task = match delay {
        // apalis-redis schedules by whole Unix seconds and truncates: round up so a 1.5 s
        // backoff never becomes 1 s, nor 0.4 s become "now".
        Some(delay) => TaskBuilder::new(job)
            .run_after(Duration::from_secs(delay.as_secs_f64().ceil() as u64))
            .build(),
        None => TaskBuilder::new(job).build(),
    };
    let _span = crate::telemetry::spans::redis("queue");
    tokio::time::timeout(PUSH_TIMEOUT, storage.push_task(task))
        .await
        .map_err(|_| anyhow::anyhow!("redis push timed out"))?
        .map_err(|e| anyhow::anyhow!("redis push failed: {e}"))
}

async fn push_rows<T>(storage: &RedisStorage<T>, rows: &[&OutboxRow]) -> anyhow::Result<()>
where
    T: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static,
{
    let tasks = rows
        .iter()
        .map(|row| job_from_row::<T>(row).map(|job| TaskBuilder::new(job).build()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut storage = storage.clone();
    tokio::time::timeout(PUSH_TIMEOUT, storage.push_all(stream::iter(tasks)))
        .await
        .map_err(|_| anyhow::anyhow!("redis push timed out"))?
        .map_err(|e| anyhow::anyhow!("redis push failed: {e}"))
}

/// One sweep pass: dispatches due rows nobody dispatched yet. Returns how many were moved.
pub async fn sweep(db: &Pool, queues: &Queues) -> anyhow::Result<usize> {
    let kinds = queues.with_room().await?;
    if kinds.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin().await?;
    let rows = outbox::claim_due(&mut *tx, &kinds, SWEEP_BATCH).await?;
    dispatch_claimed(tx, queues, rows).await
}

/// The `outbox.wait` span of a traced row: from when it became due to its dispatch.
fn trace_outbox_wait(row: &OutboxRow, dispatched: chrono::DateTime<chrono::Utc>) {
    use crate::telemetry::{propagation, spans};
    if !crate::telemetry::enabled() {
        return;
    }
    let Some(parent) = row
        .payload
        .get("trace")
        .and_then(|t| crate::telemetry::TraceHeaders::deserialize(t).ok())
        .and_then(|t| propagation::extract(&t))
    else {
        return;
    };
    spans::interval(
        "outbox.wait",
        &parent,
        (row.available_at.into(), dispatched.into()),
        vec![
            opentelemetry::KeyValue::new("orderflow.outbox_id", row.id),
            opentelemetry::KeyValue::new("orderflow.job.kind", row.kind.clone()),
        ],
    );
}

/// Dispatches again jobs that Redis appears to have lost (see `outbox::claim_stale`).
pub async fn redispatch_stale(
    db: &Pool,
    queues: &Queues,
    older_than: Duration,
) -> anyhow::Result<usize> {
    let kinds = queues.with_room().await?;
    if kinds.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin().await?;
    let rows = outbox::claim_stale(&mut *tx, &kinds, older_than.as_secs_f64(), SWEEP_BATCH).await?;
    if !rows.is_empty() {
        tracing::warn!(
            jobs = rows.len(),
            "re-dispatching jobs dispatched but never run (lost by Redis?)"
        );
    }
    dispatch_claimed(tx, queues, rows).await
}

/// Pushes claimed rows, one call per kind, and marks the pushed ones dispatched in the
/// claiming transaction. A failed push stops the pass; the rest stay for the next one.
async fn dispatch_claimed(
    mut tx: crate::db::Tx,
    queues: &Queues,
    rows: Vec<OutboxRow>,
) -> anyhow::Result<usize> {
    let mut pushed = Vec::with_capacity(rows.len());
    let mut failure = None;
    for kind in JobKind::ALL {
        let batch: Vec<&OutboxRow> = rows.iter().filter(|r| r.kind == kind.as_str()).collect();
        if batch.is_empty() {
            continue;
        }
        match queues.push_all(kind, &batch).await {
            Ok(()) => pushed.extend(batch.iter().map(|r| r.id)),
            Err(e) => {
                crate::metrics::redis_error("dispatch");
                failure = Some(e);
                break;
            }
        }
    }
    if let Some(unknown) = rows.iter().find(|r| JobKind::parse(&r.kind).is_none()) {
        tracing::error!(outbox_id = unknown.id, kind = %unknown.kind, "outbox row of unknown kind left undispatched");
    }
    if !pushed.is_empty() {
        outbox::mark_dispatched(&mut *tx, &pushed).await?;
    }
    tx.commit().await?;
    metrics::counter!("orderflow_outbox_dispatched_total").increment(pushed.len() as u64);
    let now = chrono::Utc::now();
    for row in rows.iter().filter(|r| pushed.contains(&r.id)) {
        let lag = (now - row.available_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!("orderflow_outbox_dispatch_lag_seconds").record(lag);
        trace_outbox_wait(row, now);
    }
    match failure {
        Some(e) if pushed.is_empty() => Err(e),
        Some(e) => {
            tracing::warn!(error = %e, dispatched = pushed.len(), "outbox dispatch stopped early");
            Ok(pushed.len())
        }
        None => Ok(pushed.len()),
    }
}
