//! SQL for `sessions`: one per login, named by the `sid` claim of its access tokens and the
//! family of its refresh tokens. Ending one (revoking it) makes PostgreSQL notify every API
//! instance (migration 0006), whose user cache then refuses its access tokens at once.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// Starts a session that ends at `expires_at` whatever its refreshes.
pub async fn create(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: i64,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(user_id)
        .bind(expires_at)
        .execute(db)
        .await?;
    Ok(())
}

/// When the session ends, if it is live (not revoked, not past its end).
pub async fn live_until(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar(
        "SELECT expires_at FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Ends one session; returns its user when it was live.
pub async fn revoke(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL \
         RETURNING user_id",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Ends every session of a user (logout-all, a password change or reset, deactivation) and
/// revokes their refresh tokens, in one statement (a data-modifying `WITH` runs whether or
/// not its rows are read).
pub async fn revoke_all(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<u64> {
    let (ended,): (i64,) = sqlx::query_as(
        "WITH ended AS ( \
           UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL \
           RETURNING id), \
         tokens AS ( \
           UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL \
           RETURNING 1) \
         SELECT count(*) FROM ended",
    )
    .bind(user_id)
    .fetch_one(db)
    .await?;
    Ok(ended as u64)
}

/// Deletes sessions that ended more than a day ago.
pub async fn delete_stale(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM sessions WHERE expires_at < now() - interval '1 day' \
         OR revoked_at < now() - interval '1 day'",
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
