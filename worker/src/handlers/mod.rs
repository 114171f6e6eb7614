//! Job handlers. Each job's outbox row is its durable record: every attempt is counted there
//! first (so a job that crashes its worker still runs out of attempts), a success or skip
//! completes it, a transient failure schedules the job again after an exponential, jittered
//! delay, and a permanent failure or the last attempt moves it to `dead_jobs`.
//!
//! Retries are ours rather than apalis-redis's: it would re-run every failed task after
//! `attempt` seconds (linear) up to a hard-coded 25 attempts, ignoring any maximum
//! (apalis-redis 1.0 `lua/handle_results.lua`). So handlers only return `Err` when even the
//! bookkeeping failed (database down); apalis' linear retry is then the fallback.

pub mod account;
pub mod confirmation;
pub mod deliver;
pub mod expiry;
pub mod order_email;
pub mod status_changed;

use apalis::prelude::BoxDynError;
use apalis_redis::RedisStorage;
use chrono::{DateTime, Utc};
use orderflow_shared::{
    db::{dead_jobs, outbox},
    dispatch::push_job,
    domain::retry::{FailureKind, NextStep},
    jobs::{JobKind, Traced},
    telemetry::spans,
};
use serde::{Serialize, de::DeserializeOwned};
use std::{future::Future, time::Instant};

use crate::{context::JobContext, metrics};

/// Job kinds, each with its own queue and worker.
pub const QUEUES: usize = JobKind::ALL.len();
/// Queues whose jobs send email (confirmation, status change, account).
pub const EMAIL_QUEUES: usize = 3;

/// How an attempt ended when it did not fail.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The work was done (and the handler completed the outbox row in its transaction).
    Done,
    /// Nothing to do, e.g. the order was deleted or is no longer pending.
    Skipped(String),
}

/// A failed attempt, classified.
#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Transient,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Permanent,
            message: message.into(),
        }
    }
}

/// Database errors while doing the work are transient (timeouts, restarts).
impl From<sqlx::Error> for Failure {
    fn from(err: sqlx::Error) -> Self {
        Self::transient(format!("database: {err}"))
    }
}

/// Runs one attempt of `job` with the bookkeeping described in the module docs (jobs that
/// send no email; emails go through `deliver::run`, which claims the email in the same
/// statement that counts the attempt).
pub async fn attempt<T, W>(
    ctx: &JobContext,
    (kind, outbox_id): (JobKind, i64),
    (job, storage): (T, &RedisStorage<T>),
    work: W,
) -> Result<(), BoxDynError>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + Unpin + Traced + 'static,
    W: Future<Output = Result<Outcome, Failure>>,
{
    let started = Instant::now();
    let _running = metrics::Running::start(kind);
    let Some((attempt, enqueued_at)) = outbox::start_attempt(&ctx.db, outbox_id).await? else {
        tracing::info!("job already completed; duplicate delivery ignored");
        spans::job_outcome("duplicate");
        metrics::job_finished(kind, "duplicate", started, None);
        return Ok(());
    };
    spans::job_attempt(job.trace().and_then(|t| t.queued_at_ms), attempt.into());
    let result = match tokio::time::timeout(ctx.timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(Failure::transient(format!(
            "timed out after {:?}",
            ctx.timeout
        ))),
    };
    conclude(
        ctx,
        (kind, outbox_id),
        (job, storage),
        (attempt.max(1) as u32, Some(enqueued_at), started),
        result,
    )
    .await
}

/// Records how an attempt ended: done (the work completed the outbox row itself), skipped,
/// retried after a backoff, or dead.
pub async fn conclude<T>(
    ctx: &JobContext,
    (kind, outbox_id): (JobKind, i64),
    (mut job, storage): (T, &RedisStorage<T>),
    (attempt, enqueued_at, started): (u32, Option<DateTime<Utc>>, Instant),
    result: Result<Outcome, Failure>,
) -> Result<(), BoxDynError>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + Unpin + Traced + 'static,
{
    match result {
        Ok(Outcome::Done) => {
            tracing::info!(attempt, "job done");
            spans::job_outcome("success");
            metrics::job_finished(kind, "success", started, enqueued_at);
        }
        Ok(Outcome::Skipped(reason)) => {
            tracing::info!(attempt, %reason, "job skipped");
            spans::job_outcome("skipped");
            outbox::complete(&ctx.db, outbox_id, "skipped", Some(&reason)).await?;
            metrics::job_finished(kind, "skipped", started, enqueued_at);
        }
        Err(failure) => {
            let label = match failure.kind {
                FailureKind::Transient => "transient",
                FailureKind::Permanent => "permanent",
                FailureKind::HeldElsewhere(_) => "held elsewhere",
            };
            let error = format!("{label}: {}", failure.message);
            match ctx
                .policy
                .after_failure(failure.kind, attempt, rand::random::<f64>())
            {
                NextStep::RetryIn(delay) => {
                    tracing::warn!(attempt, ?delay, %error, "job failed; retrying");
                    spans::job_outcome("retry");
                    outbox::record_error(&ctx.db, outbox_id, &error).await?;
                    if let Some(trace) = job.trace_mut() {
                        let due = std::time::SystemTime::now() + delay;
                        trace.queued_at_ms = Some(spans::to_unix_ms(due));
                    }
                    push_job(storage, job, Some(delay))
                        .await
                        .map_err(|e| e.to_string())?;
                    metrics::job_finished(kind, "retry", started, None);
                }
                NextStep::Dead => {
                    tracing::error!(attempt, %error, "job dead");
                    spans::job_outcome("dead");
                    let payload = serde_json::to_value(&job)?;
                    let mut tx = ctx.db.begin().await?;
                    dead_jobs::insert(
                        &mut *tx,
                        outbox_id,
                        kind.as_str(),
                        &payload,
                        &error,
                        attempt as i32,
                    )
                    .await?;
                    outbox::complete(&mut *tx, outbox_id, "dead", Some(&error)).await?;
                    tx.commit().await?;
                    metrics::job_finished(kind, "dead", started, None);
                }
            }
        }
    }
    Ok(())
}
