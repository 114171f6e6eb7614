//! SQL for `email_deliveries`: the record that makes email jobs idempotent.

use sqlx::PgExecutor;

/// Claims the (order, kind) delivery inside the caller's transaction. While that transaction
/// is open a concurrent claim waits; once it commits the other finds the row and gets `false`;
/// if it rolls back (SMTP failed) the other may send.
pub async fn claim(
    db: impl PgExecutor<'_>,
    order_id: i64,
    kind: &str,
    recipient: &str,
    message_id: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO email_deliveries (order_id, kind, recipient, message_id) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (order_id, kind) DO NOTHING",
    )
    .bind(order_id)
    .bind(kind)
    .bind(recipient)
    .bind(message_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn exists(db: impl PgExecutor<'_>, order_id: i64, kind: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM email_deliveries WHERE order_id = $1 AND kind = $2)",
    )
    .bind(order_id)
    .bind(kind)
    .fetch_one(db)
    .await
}
