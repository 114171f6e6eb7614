//! SQL for `idempotency_keys`.
//!
//! A request with a key takes a transaction-scoped advisory lock on (user, key) before anything
//! else: a second request with the same key while the first is in flight fails to take it (409);
//! one arriving after the first committed finds the stored response (replay). The response is
//! stored in the same transaction as the order, so a key never outlives a rolled-back order.

use serde_json::Value;
use sqlx::{FromRow, PgExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct StoredResponse {
    pub request_hash: Vec<u8>,
    pub status_code: i16,
    pub response_body: Value,
    pub location: Option<String>,
}

/// Tries to take the in-flight lock for (user, key); false when another transaction holds it.
pub async fn try_lock(db: impl PgExecutor<'_>, user_id: i64, key: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))")
        .bind(user_id.to_string())
        .bind(key)
        .fetch_one(db)
        .await
}

/// The stored response for a live (unexpired) key.
pub async fn find(
    db: impl PgExecutor<'_>,
    user_id: i64,
    key: &str,
) -> sqlx::Result<Option<StoredResponse>> {
    sqlx::query_as(
        "SELECT request_hash, status_code, response_body, location FROM idempotency_keys \
         WHERE user_id = $1 AND key = $2 AND expires_at > now()",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(db)
    .await
}

/// Stores the response; an expired record with the same key is replaced.
pub async fn store(
    db: impl PgExecutor<'_>,
    user_id: i64,
    key: &str,
    response: &StoredResponse,
    ttl_seconds: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response_body, \
         location, expires_at) VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7)) \
         ON CONFLICT (user_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, \
         status_code = EXCLUDED.status_code, response_body = EXCLUDED.response_body, \
         location = EXCLUDED.location, created_at = now(), expires_at = EXCLUDED.expires_at \
         WHERE idempotency_keys.expires_at <= now()",
    )
    .bind(user_id)
    .bind(key)
    .bind(&response.request_hash)
    .bind(response.status_code)
    .bind(&response.response_body)
    .bind(&response.location)
    .bind(ttl_seconds as f64)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes expired keys; returns how many went.
pub async fn delete_expired(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= now()")
            .execute(db)
            .await?
            .rows_affected(),
    )
}
