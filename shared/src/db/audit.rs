//! SQL for `audit_log`: who changed what, before and after, in the same transaction as the
//! change itself.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgExecutor};
use utoipa::ToSchema;

use crate::domain::paging::{COUNT_BOUND, Page, Total};

/// One audited change, to be written with [`record`].
pub struct NewEntry<'a> {
    pub actor_user_id: Option<i64>,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: i64,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// The server's id of the request.
    pub request_id: Option<String>,
    /// What the client sent as `X-Request-Id`, if anything: its own correlation id.
    pub client_request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub actor_user_id: Option<i64>,
    #[schema(example = "order.status_changed")]
    pub action: String,
    #[schema(example = "order")]
    pub entity_type: String,
    pub entity_id: i64,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// The server's id of the request that made the change (its logs carry it).
    pub request_id: Option<String>,
    /// The `X-Request-Id` the client sent, if any (its own correlation id).
    pub client_request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor_user_id: Option<i64>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub action: Option<String>,
}

pub async fn record(db: impl PgExecutor<'_>, entry: NewEntry<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (actor_user_id, action, entity_type, entity_id, before, after, \
         request_id, client_request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(entry.actor_user_id)
    .bind(entry.action)
    .bind(entry.entity_type)
    .bind(entry.entity_id)
    .bind(entry.before)
    .bind(entry.after)
    .bind(entry.request_id)
    .bind(entry.client_request_id)
    .execute(db)
    .await?;
    Ok(())
}

const FILTER: &str = "($1::bigint IS NULL OR actor_user_id = $1) \
     AND ($2::text IS NULL OR entity_type = $2) \
     AND ($3::bigint IS NULL OR entity_id = $3) \
     AND ($4::text IS NULL OR action = $4)";

/// Newest first (keyset after a cursor), and their number (bounded).
pub async fn list(
    db: impl PgExecutor<'_> + Copy,
    filter: &AuditFilter,
    page: &Page,
) -> sqlx::Result<(Vec<AuditEntry>, Total)> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, actor_user_id, action, entity_type, entity_id, before, after, request_id, \
         client_request_id, created_at FROM audit_log WHERE {FILTER} \
         AND ($5::bigint IS NULL OR id < $5) ORDER BY id DESC LIMIT $6 OFFSET $7"
    )))
    .bind(filter.actor_user_id)
    .bind(&filter.entity_type)
    .bind(filter.entity_id)
    .bind(&filter.action)
    .bind(super::after_id(page))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(db)
    .await?;
    let counted = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM (SELECT 1 FROM audit_log WHERE {FILTER} LIMIT $5) c"
    )))
    .bind(filter.actor_user_id)
    .bind(&filter.entity_type)
    .bind(filter.entity_id)
    .bind(&filter.action)
    .bind(COUNT_BOUND + 1)
    .fetch_one(db)
    .await?;
    Ok((rows, Total::bounded(counted)))
}
