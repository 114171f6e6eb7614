//! `SendOrderStatusChanged`: "your order has shipped / was delivered / was cancelled".

use apalis::prelude::{BoxDynError, Data};
use orderflow_shared::{
    db::orders,
    jobs::{JobKind, SendOrderStatusChanged},
};

use super::{Failure, Outcome, attempt, deliver::deliver};
use crate::{
    context::JobContext,
    email::templates::{self, OrderView},
};

pub async fn handle(job: SendOrderStatusChanged, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!("job", kind = "status_changed", order_id = job.order_id, outbox_id = job.outbox_id, status = %job.status);
    let _enter = span.enter();
    let storage = ctx.queues.status_changed.clone();
    attempt(
        &ctx,
        JobKind::OrderStatusChanged,
        job.outbox_id,
        job.clone(),
        &storage,
        send(&ctx, &job),
    )
    .await
}

async fn send(ctx: &JobContext, job: &SendOrderStatusChanged) -> Result<Outcome, Failure> {
    let Some((order, email)) = orders::get_with_email(&ctx.db, job.order_id).await? else {
        return Ok(Outcome::Skipped("order no longer exists".into()));
    };
    let items = orders::items_of(&ctx.db, &[order.id]).await?;
    let view = OrderView::new(&order, &items, job.status, &ctx.mailer.support_email());
    let rendered = templates::status_changed(&view, job.status)
        .map_err(|e| Failure::permanent(format!("template: {e}")))?;
    let kind = format!("status_{}", job.status);
    deliver(
        ctx,
        job.outbox_id,
        order.id,
        &kind,
        (&email, &order.customer_name),
        rendered,
    )
    .await
}
