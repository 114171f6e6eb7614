//! Periodic cleanup, on a schedule in every worker but done by one at a time (a PostgreSQL
//! advisory lock per run): expired idempotency keys, stale refresh tokens, sessions and
//! account tokens, completed outbox
//! rows and apalis-redis job data older than `JOB_RETENTION_DAYS` (or `JOB_RETENTION_SECONDS`).
//!
//! apalis-redis never deletes finished task data by itself (apalis #149, #487; apalis-redis
//! #10), so done tasks' data, metadata and set entries are removed here.

use apalis_redis::{Config, ConnectionManager};
use orderflow_shared::{
    db::{Pool, account_tokens, idempotency, outbox, refresh_tokens, sessions},
    dispatch::queue_config,
    jobs::JobKind,
    settings::WorkerSettings,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

use crate::metrics;

/// Arbitrary constant naming the cleanup lock.
const CLEANUP_LOCK: i64 = 0x0F10_C1EA;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub idempotency_keys: u64,
    pub refresh_tokens: u64,
    pub sessions: u64,
    pub account_tokens: u64,
    pub outbox_rows: u64,
    pub redis_tasks: u64,
}

pub async fn run(
    db: Pool,
    redis: ConnectionManager,
    settings: WorkerSettings,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(settings.cleanup_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        match run_once(&db, &redis, &settings).await {
            Ok(Some(report)) => tracing::info!(?report, "cleanup done"),
            Ok(None) => tracing::debug!("cleanup running elsewhere"),
            Err(e) => tracing::warn!(error = %e, "cleanup failed"),
        }
    }
}

/// One cleanup pass; `None` when another process holds the lock.
pub async fn run_once(
    db: &Pool,
    redis: &ConnectionManager,
    settings: &WorkerSettings,
) -> anyhow::Result<Option<Report>> {
    let mut tx = db.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(CLEANUP_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(None);
    }
    // This transaction holds the cleanup lock while Redis is purged (a round trip per task):
    // the session's idle-in-transaction and statement limits are the request path's.
    sqlx::raw_sql(
        "SET LOCAL idle_in_transaction_session_timeout = 0; SET LOCAL statement_timeout = 0",
    )
    .execute(&mut *tx)
    .await?;
    let retention = settings.retention;
    let mut report = Report {
        idempotency_keys: idempotency::delete_expired(&mut *tx).await?,
        refresh_tokens: refresh_tokens::delete_stale(&mut *tx).await?,
        sessions: sessions::delete_stale(&mut *tx).await?,
        account_tokens: account_tokens::delete_stale(&mut *tx).await?,
        outbox_rows: outbox::delete_completed_before(&mut *tx, retention).await?,
        redis_tasks: 0,
    };
    for kind in JobKind::ALL {
        report.redis_tasks += purge_done(
            redis.clone(),
            &queue_config(&settings.core.key_prefix, kind, settings.queue_tuning()),
            retention,
        )
        .await?;
    }
    tx.commit().await?;
    metrics::cleanup_deleted("idempotency_keys", report.idempotency_keys);
    metrics::cleanup_deleted("refresh_tokens", report.refresh_tokens);
    metrics::cleanup_deleted("sessions", report.sessions);
    metrics::cleanup_deleted("account_tokens", report.account_tokens);
    metrics::cleanup_deleted("outbox_rows", report.outbox_rows);
    metrics::cleanup_deleted("redis_tasks", report.redis_tasks);
    Ok(Some(report))
}

/// Deletes the data, metadata and `done` entry of tasks finished more than `older_than` ago.
pub async fn purge_done(
    mut conn: ConnectionManager,
    config: &Config,
    older_than: Duration,
) -> redis::RedisResult<u64> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let cutoff = now.saturating_sub(older_than).as_secs();
    let (done, data, meta) = (
        config.done_jobs_set(),
        config.job_data_hash(),
        config.job_meta_hash(),
    );
    let mut cursor: u64 = 0;
    let mut purged = 0;
    loop {
        let (next, ids): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg(&done)
            .arg(cursor)
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await?;
        for id in ids {
            let meta_key = format!("{meta}:{id}");
            let done_at: Option<u64> = redis::cmd("HGET")
                .arg(&meta_key)
                .arg("done_at")
                .query_async(&mut conn)
                .await?;
            if done_at.is_none_or(|t| t <= cutoff) {
                redis::pipe()
                    .cmd("HDEL")
                    .arg(&data)
                    .arg(&id)
                    .ignore()
                    .cmd("DEL")
                    .arg(&meta_key)
                    .ignore()
                    .cmd("SREM")
                    .arg(&done)
                    .arg(&id)
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await?;
                purged += 1;
            }
        }
        if next == 0 {
            return Ok(purged);
        }
        cursor = next;
    }
}
