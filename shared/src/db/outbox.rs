//! SQL for `outbox`: written in the business transaction, claimed by dispatchers with
//! `FOR UPDATE SKIP LOCKED` (safe with any number of API and worker processes), and updated by
//! the worker as the job runs.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgExecutor};

use crate::{domain::OrderStatus, jobs::JobKind};

#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    /// When it became due (`created_at`, or later for delayed jobs): dispatch lag runs from here.
    pub available_at: DateTime<Utc>,
}

/// Adds a job to the outbox, due now or at `available_at`.
pub async fn enqueue(
    db: impl PgExecutor<'_>,
    kind: JobKind,
    payload: Value,
    available_at: Option<DateTime<Utc>>,
) -> sqlx::Result<i64> {
    let payload = traced(payload);
    sqlx::query_scalar(
        "INSERT INTO outbox (kind, payload, available_at) VALUES ($1, $2, COALESCE($3, now())) \
         RETURNING id",
    )
    .bind(kind.as_str())
    .bind(payload)
    .bind(available_at)
    .fetch_one(db)
    .await
}

/// `payload` with the current span's trace context under `trace` (when traces are exported
/// and it has none yet): the job's span continues the trace of whoever wrote the row. Applied
/// where rows are written: `enqueue` here and the order's own statement (`orders/place.rs`).
pub fn traced(mut payload: Value) -> Value {
    if let Value::Object(map) = &mut payload
        && !map.contains_key("trace")
        && let Some(trace) = crate::telemetry::propagation::current()
        && let Ok(trace) = serde_json::to_value(trace)
    {
        map.insert("trace".into(), trace);
    }
    payload
}

/// The payload of a new order's confirmation email.
pub fn confirmation_payload(order_id: i64, request_id: Option<&str>) -> Value {
    serde_json::json!({"order_id": order_id, "request_id": request_id})
}

/// The payload of the status email after a change to `status`.
pub fn status_changed_payload(
    order_id: i64,
    status: OrderStatus,
    request_id: Option<&str>,
) -> Value {
    serde_json::json!({"order_id": order_id, "status": status, "request_id": request_id})
}

/// The payload of a pending order's expiry.
pub fn expiry_payload(order_id: i64) -> Value {
    serde_json::json!({"order_id": order_id})
}

/// The status email after a change to `status`.
pub async fn enqueue_status_changed(
    db: impl PgExecutor<'_>,
    order_id: i64,
    status: OrderStatus,
    request_id: Option<&str>,
) -> sqlx::Result<i64> {
    let payload = status_changed_payload(order_id, status, request_id);
    enqueue(db, JobKind::OrderStatusChanged, payload, None).await
}

/// Locks up to `limit` due, undispatched rows of the given kinds (skipping rows another
/// dispatcher holds).
pub async fn claim_due(
    db: impl PgExecutor<'_>,
    kinds: &[&str],
    limit: i64,
) -> sqlx::Result<Vec<OutboxRow>> {
    sqlx::query_as(
        "SELECT id, kind, payload, created_at, available_at FROM outbox \
         WHERE dispatched_at IS NULL AND available_at <= now() AND kind = ANY($1) \
         ORDER BY available_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(kinds)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Locks rows that were dispatched but neither attempted nor finished for `older_than_secs`:
/// jobs Redis lost (a restart without persistence, a flush). Re-dispatching them is safe, as
/// handlers are idempotent.
pub async fn claim_stale(
    db: impl PgExecutor<'_>,
    kinds: &[&str],
    older_than_secs: f64,
    limit: i64,
) -> sqlx::Result<Vec<OutboxRow>> {
    sqlx::query_as(
        "SELECT id, kind, payload, created_at, available_at FROM outbox \
         WHERE dispatched_at IS NOT NULL AND completed_at IS NULL AND kind = ANY($1) \
         AND greatest(dispatched_at, last_attempt_at) < now() - make_interval(secs => $2) \
         ORDER BY dispatched_at LIMIT $3 FOR UPDATE SKIP LOCKED",
    )
    .bind(kinds)
    .bind(older_than_secs)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn mark_dispatched(db: impl PgExecutor<'_>, ids: &[i64]) -> sqlx::Result<()> {
    sqlx::query("UPDATE outbox SET dispatched_at = now() WHERE id = ANY($1)")
        .bind(ids)
        .execute(db)
        .await?;
    Ok(())
}

/// Counts an attempt of a job that has not finished yet and returns the attempt number and
/// when the job was enqueued; `None` when the row is already completed (a duplicate
/// delivery) or gone.
pub async fn start_attempt(
    db: impl PgExecutor<'_>,
    id: i64,
) -> sqlx::Result<Option<(i32, DateTime<Utc>)>> {
    sqlx::query_as(
        "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = now() \
         WHERE id = $1 AND completed_at IS NULL RETURNING attempts, created_at",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Finishes the job with `outcome` (`done`, `skipped` or `dead`).
pub async fn complete(
    db: impl PgExecutor<'_>,
    id: i64,
    outcome: &str,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET completed_at = now(), outcome = $2, last_error = COALESCE($3, last_error) \
         WHERE id = $1",
    )
    .bind(id)
    .bind(outcome)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn record_error(db: impl PgExecutor<'_>, id: i64, error: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE outbox SET last_error = $2 WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}

/// Makes a finished (dead) job new again: the dispatcher sends it on its next pass.
pub async fn reset_for_retry(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET dispatched_at = NULL, available_at = now(), attempts = 0, \
         last_attempt_at = NULL, completed_at = NULL, outcome = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes completed rows older than `days` (dead ones are kept while a dead_jobs row points
/// at them, which `ON DELETE SET NULL` allows anyway).
pub async fn delete_completed_before(
    db: impl PgExecutor<'_>,
    age: std::time::Duration,
) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM outbox WHERE completed_at < now() - make_interval(secs => $1)")
            .bind(age.as_secs_f64())
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// Rows due and not yet dispatched, and the age in seconds of the oldest (0 when none): the
/// outbox gauges. Uses the partial index of undispatched rows.
pub async fn pending_stats(db: impl PgExecutor<'_>) -> sqlx::Result<(i64, f64)> {
    sqlx::query_as(
        "SELECT count(*), \
                COALESCE(EXTRACT(EPOCH FROM now() - min(available_at))::float8, 0) \
         FROM outbox WHERE dispatched_at IS NULL AND available_at <= now()",
    )
    .fetch_one(db)
    .await
}
