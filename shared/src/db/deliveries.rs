//! SQL for `email_deliveries`: the record that makes email jobs idempotent.
//!
//! An attempt first counts itself and claims the (subject, kind) delivery in one statement
//! (`begin`); then sends; then marks it sent and completes the job in one statement
//! (`finish`). Two commits per email, and no transaction or connection held during the SMTP
//! dialogue. A claim is a lease identified by a token: only its holder can finish or release
//! it, it is renewed while a slow send goes on, and if the holder dies another attempt may
//! take it over once `claimed_until` has passed. The subject is the order for order emails,
//! and the outbox row for account emails (each of those is an email of its own); the
//! column keeps its first name, `order_id`.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// Where the (order, kind) delivery stands for this attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This attempt holds the lease: send.
    Claimed,
    /// The email went out already: nothing to send.
    AlreadySent,
    /// Another attempt holds a live lease (it is sending right now, or died recently).
    HeldElsewhere { until: DateTime<Utc> },
    /// The order (or user) is gone: nothing to send.
    NoOrder,
}

/// A started email attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Begun {
    /// This attempt's number, counting every earlier one (including crashed ones).
    pub attempt: i32,
    pub enqueued_at: DateTime<Utc>,
    pub claim: Claim,
}

/// Where the address of an email comes from when it is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// The customer of this order (order emails; the delivery is recorded per order).
    Order(i64),
    /// This user (account emails; the delivery is recorded per outbox row).
    User(i64),
}

/// `target` is the CTE yielding the recipient's `email` from `$6`.
fn begin_sql(target: &str) -> String {
    format!(
        "WITH job AS ( \
           SELECT attempts, created_at FROM outbox WHERE id = $1 AND completed_at IS NULL), \
         target AS ({target}), \
         claimed AS ( \
           INSERT INTO email_deliveries (order_id, kind, recipient, state, claimed_until, claim_token) \
           SELECT $2, $3, target.email, 'sending', now() + make_interval(secs => $4), $5 \
           FROM job, target \
           ON CONFLICT (order_id, kind) DO UPDATE SET recipient = EXCLUDED.recipient, \
             claimed_until = EXCLUDED.claimed_until, claim_token = EXCLUDED.claim_token \
           WHERE email_deliveries.state = 'sending' AND email_deliveries.claimed_until < now() \
           RETURNING 1), \
         counted AS ( \
           UPDATE outbox SET attempts = attempts + 1, last_attempt_at = now() \
           WHERE id = $1 AND EXISTS (SELECT 1 FROM claimed) RETURNING attempts) \
         SELECT COALESCE((SELECT attempts FROM counted), j.attempts) AS attempts, j.created_at, \
           EXISTS (SELECT 1 FROM claimed) AS claimed, EXISTS (SELECT 1 FROM target) AS has_order, \
           d.state, d.claimed_until \
         FROM job j \
         LEFT JOIN email_deliveries d ON d.order_id = $2 AND d.kind = $3"
    )
}

static ORDER_BEGIN_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    begin_sql(
        "SELECT c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $6",
    )
});
static USER_BEGIN_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| begin_sql("SELECT u.email FROM users u WHERE u.id = $6"));

type BeginRow = (
    i32,
    DateTime<Utc>,
    bool,
    bool,
    Option<String>,
    Option<DateTime<Utc>>,
);

/// Claims the email recorded as `(subject, kind)` for `lease` and, when claimed, counts the
/// attempt of outbox row `outbox_id` (only an attempt that goes on to send is counted: that
/// is the one that could crash its worker). `None` when the job is already completed (a
/// duplicate delivery of a finished job) or gone.
pub async fn begin(
    db: impl PgExecutor<'_>,
    outbox_id: i64,
    (subject, kind): (i64, &str),
    recipient: Recipient,
    (lease, token): (std::time::Duration, Uuid),
) -> sqlx::Result<Option<Begun>> {
    let (sql, of) = match recipient {
        Recipient::Order(id) => (ORDER_BEGIN_SQL.as_str(), id),
        Recipient::User(id) => (USER_BEGIN_SQL.as_str(), id),
    };
    let row: Option<BeginRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(outbox_id)
        .bind(subject)
        .bind(kind)
        .bind(lease.as_secs_f64())
        .bind(token)
        .bind(of)
        .fetch_optional(db)
        .await?;
    Ok(row.map(
        |(attempt, enqueued_at, claimed, has_order, state, until)| Begun {
            attempt,
            enqueued_at,
            claim: match (claimed, has_order, state.as_deref(), until) {
                (true, _, _, _) => Claim::Claimed,
                (_, _, Some("sent"), _) => Claim::AlreadySent,
                (_, false, _, _) => Claim::NoOrder,
                // Held by a live lease, or taken by an attempt that committed after this
                // statement's snapshot: either way, someone else is on it.
                (_, _, _, until) => Claim::HeldElsewhere {
                    until: until.unwrap_or_else(Utc::now),
                },
            },
        },
    ))
}

/// Marks the email sent (with the Message-ID it carried) and completes the job, if this
/// attempt still holds the claim. Returns false when it did not (its lease was taken over).
pub async fn finish(
    db: impl PgExecutor<'_>,
    outbox_id: i64,
    (order_id, kind): (i64, &str),
    token: Uuid,
    message_id: &str,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "WITH sent AS ( \
           UPDATE email_deliveries SET state = 'sent', sent_at = now(), message_id = $5, \
             claimed_until = NULL \
           WHERE order_id = $2 AND kind = $3 AND claim_token = $4 AND state = 'sending' \
           RETURNING 1), \
         done AS ( \
           UPDATE outbox SET completed_at = now(), outcome = 'done' \
           WHERE id = $1 AND completed_at IS NULL) \
         SELECT EXISTS (SELECT 1 FROM sent)",
    )
    .bind(outbox_id)
    .bind(order_id)
    .bind(kind)
    .bind(token)
    .bind(message_id)
    .fetch_one(db)
    .await
}

/// Extends the claim while a slow send is still going (its holder is alive).
pub async fn renew(
    db: impl PgExecutor<'_>,
    (order_id, kind): (i64, &str),
    token: Uuid,
    lease: std::time::Duration,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE email_deliveries SET claimed_until = now() + make_interval(secs => $4) \
         WHERE order_id = $1 AND kind = $2 AND claim_token = $3 AND state = 'sending'",
    )
    .bind(order_id)
    .bind(kind)
    .bind(token)
    .bind(lease.as_secs_f64())
    .execute(db)
    .await?;
    Ok(())
}

/// Gives the claim back after a failed send, so the next attempt can send at once.
pub async fn release(
    db: impl PgExecutor<'_>,
    (order_id, kind): (i64, &str),
    token: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM email_deliveries WHERE order_id = $1 AND kind = $2 AND claim_token = $3 \
         AND state = 'sending'",
    )
    .bind(order_id)
    .bind(kind)
    .bind(token)
    .execute(db)
    .await?;
    Ok(())
}
