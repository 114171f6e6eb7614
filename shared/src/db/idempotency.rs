//! SQL for `idempotency_keys` outside the order's own statements: the stored response's shape
//! and the cleanup of expired keys. Reading a key and storing the response happen in the
//! statements that place the order (`orders/place.rs`: the key's row is written by the same
//! statement as the order, so a key never outlives a rolled-back order, and a second request
//! with the key finds it in flight or finds its response to replay).

use serde_json::Value;
use sqlx::{FromRow, PgExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct StoredResponse {
    pub request_hash: Vec<u8>,
    pub status_code: i16,
    pub response_body: Value,
    pub location: Option<String>,
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
