//! SQL for `account_tokens`: the single-use tokens of account emails, stored as SHA-256.

use sqlx::PgExecutor;

use crate::domain::account_email::Purpose;

pub async fn insert(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    user_id: i64,
    purpose: Purpose,
    ttl: std::time::Duration,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at) \
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(ttl.as_secs_f64())
    .execute(db)
    .await?;
    Ok(())
}

/// Uses a live token of `purpose`: returns its user, and spends every other token of that
/// user and purpose with it (a second email's link stops working once one was used). `None`
/// for a token unknown, used, expired or for another purpose.
pub async fn consume(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    purpose: Purpose,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "WITH used AS ( \
           UPDATE account_tokens SET used_at = now() \
           WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now() \
           RETURNING user_id), \
         others AS ( \
           UPDATE account_tokens SET used_at = now() \
           WHERE user_id = (SELECT user_id FROM used) AND purpose = $2 AND used_at IS NULL \
             AND token_hash <> $1 \
           RETURNING 1) \
         SELECT user_id FROM used",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .fetch_optional(db)
    .await
}

/// Deletes tokens expired or used more than a day ago.
pub async fn delete_stale(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM account_tokens WHERE expires_at < now() - interval '1 day' \
         OR used_at < now() - interval '1 day'",
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
