//! Sending an order email exactly once per (order, kind).

use orderflow_shared::db::{deliveries, outbox};

use super::{Failure, Outcome};
use crate::{context::JobContext, email::templates::Rendered, metrics};

/// Claims the delivery record, sends, and completes the outbox row, all in one transaction:
/// a concurrent duplicate waits on the claim and then finds the email sent; a failed send rolls
/// the claim back so a retry may send. (A crash between the SMTP server's 250 and the commit
/// can still send twice: SMTP has no way to make that step atomic.)
pub async fn deliver(
    ctx: &JobContext,
    outbox_id: i64,
    order_id: i64,
    kind: &str,
    (to, to_name): (&str, &str),
    email: Rendered,
) -> Result<Outcome, Failure> {
    let mut tx = ctx.db.begin().await?;
    let message_id = ctx.mailer.message_id(kind);
    if !deliveries::claim(&mut *tx, order_id, kind, to, &message_id).await? {
        outbox::complete(&mut *tx, outbox_id, "done", None).await?;
        tx.commit().await?;
        tracing::info!(order_id, kind, "email already sent; not sending again");
        return Ok(Outcome::Done);
    }
    ctx.mailer
        .send(to, to_name, &message_id, email)
        .await
        .map_err(|e| Failure {
            kind: e.kind,
            message: e.message,
        })?;
    outbox::complete(&mut *tx, outbox_id, "done", None).await?;
    tx.commit().await?;
    metrics::email_sent(kind);
    tracing::info!(order_id, kind, %message_id, "email sent");
    Ok(Outcome::Done)
}
