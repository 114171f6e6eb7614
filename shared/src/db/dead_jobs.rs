//! SQL for `dead_jobs`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgExecutor};
use utoipa::ToSchema;

use crate::domain::paging::{COUNT_BOUND, KeyValue, Page, Total};

#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct DeadJob {
    pub id: i64,
    pub outbox_id: Option<i64>,
    #[schema(example = "send_order_confirmation")]
    pub kind: String,
    pub payload: Value,
    #[schema(example = "permanent: 550 mailbox unavailable")]
    pub last_error: String,
    pub attempts: i32,
    pub died_at: DateTime<Utc>,
    pub retried_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, outbox_id, kind, payload, last_error, attempts, died_at, retried_at";

pub async fn insert(
    db: impl PgExecutor<'_>,
    outbox_id: i64,
    kind: &str,
    payload: &Value,
    last_error: &str,
    attempts: i32,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO dead_jobs (outbox_id, kind, payload, last_error, attempts) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(outbox_id)
    .bind(kind)
    .bind(payload)
    .bind(last_error)
    .bind(attempts)
    .fetch_one(db)
    .await
}

/// Newest deaths first (keyset after a cursor), and their number (bounded).
pub async fn list(
    db: impl PgExecutor<'_> + Copy,
    page: &Page,
) -> sqlx::Result<(Vec<DeadJob>, Total)> {
    let (died_at, id) = match page.after() {
        Some([KeyValue::Text(at), KeyValue::Int(id)]) => (Some(at.as_str()), Some(*id)),
        _ => (None, None),
    };
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM dead_jobs \
         WHERE ($1::timestamptz IS NULL OR (died_at, id) < ($1::timestamptz, $2::bigint)) \
         ORDER BY died_at DESC, id DESC LIMIT $3 OFFSET $4"
    )))
    .bind(died_at)
    .bind(id)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(db)
    .await?;
    let counted = sqlx::query_scalar("SELECT count(*) FROM (SELECT 1 FROM dead_jobs LIMIT $1) c")
        .bind(COUNT_BOUND + 1)
        .fetch_one(db)
        .await?;
    Ok((rows, Total::bounded(counted)))
}

pub async fn get_for_update(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<DeadJob>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM dead_jobs WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn mark_retried(db: impl PgExecutor<'_>, id: i64, by: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE dead_jobs SET retried_at = now(), retried_by = $2 WHERE id = $1")
        .bind(id)
        .bind(by)
        .execute(db)
        .await?;
    Ok(())
}

/// Dead jobs nobody has replayed yet (`orderflow_dead_jobs`).
pub async fn count_open(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM dead_jobs WHERE retried_at IS NULL")
        .fetch_one(db)
        .await
}
