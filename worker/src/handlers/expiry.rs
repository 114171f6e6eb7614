//! `ExpirePendingOrder`: cancels an order still pending `PENDING_ORDER_TTL` after creation,
//! audits it and queues the cancellation email, in one transaction.

use apalis::prelude::{BoxDynError, Data};
use orderflow_shared::cache::Entity;
use orderflow_shared::{
    db::{
        audit::{self, NewEntry},
        orders, outbox,
    },
    domain::OrderStatus,
    jobs::{ExpirePendingOrder, JobKind},
};
use serde_json::json;
use tracing::Instrument;

use super::{Failure, Outcome, attempt};
use crate::context::JobContext;

pub async fn handle(job: ExpirePendingOrder, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!(
        "job",
        kind = "expire_pending_order",
        order_id = job.order_id,
        outbox_id = job.outbox_id,
        otel.name = "job expire_pending_order",
        otel.kind = "consumer",
    );
    orderflow_shared::telemetry::propagation::continue_trace(&span, job.trace.as_ref());
    let storage = ctx.queues.expiry.clone();
    attempt(
        &ctx,
        (JobKind::ExpirePendingOrder, job.outbox_id),
        (job.clone(), &storage),
        expire(&ctx, &job),
    )
    .instrument(span)
    .await
}

async fn expire(ctx: &JobContext, job: &ExpirePendingOrder) -> Result<Outcome, Failure> {
    let mut tx = ctx.db.begin().await?;
    if !orders::cancel_if_pending(&mut *tx, job.order_id).await? {
        return Ok(Outcome::Skipped(
            "order is no longer pending (or was deleted)".into(),
        ));
    }
    audit::record(
        &mut *tx,
        NewEntry {
            actor_user_id: None,
            action: "order.expired",
            entity_type: "order",
            entity_id: job.order_id,
            before: Some(json!({"status": OrderStatus::Pending})),
            after: Some(json!({"status": OrderStatus::Cancelled})),
            request_id: None,
            client_request_id: None,
        },
    )
    .await?;
    outbox::enqueue_status_changed(&mut *tx, job.order_id, OrderStatus::Cancelled, None).await?;
    outbox::complete(&mut *tx, job.outbox_id, "done", None).await?;
    tx.commit().await?;
    ctx.cache.invalidate(Entity::Order, &[job.order_id]).await;
    // The cancellation email's outbox row is committed: dispatch it now, not at the next tick.
    ctx.sweep.notify_one();
    tracing::info!(
        order_id = job.order_id,
        "pending order expired and cancelled"
    );
    Ok(Outcome::Done)
}
