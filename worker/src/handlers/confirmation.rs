//! `SendOrderConfirmation`: the "order received" email.

use apalis::prelude::{BoxDynError, Data};
use orderflow_shared::{
    db::orders,
    domain::OrderStatus,
    jobs::{JobKind, SendOrderConfirmation},
};

use super::{Failure, Outcome, attempt, deliver::deliver};
use crate::{
    context::JobContext,
    email::templates::{self, OrderView},
};

pub const EMAIL_KIND: &str = "order_confirmation";

pub async fn handle(job: SendOrderConfirmation, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!(
        "job",
        kind = EMAIL_KIND,
        order_id = job.order_id,
        outbox_id = job.outbox_id,
        request_id = job.request_id.as_deref().unwrap_or("")
    );
    let _enter = span.enter();
    let storage = ctx.queues.confirmation.clone();
    attempt(
        &ctx,
        JobKind::OrderConfirmation,
        job.outbox_id,
        job.clone(),
        &storage,
        send(&ctx, &job),
    )
    .await
}

async fn send(ctx: &JobContext, job: &SendOrderConfirmation) -> Result<Outcome, Failure> {
    let Some((order, email)) = orders::get_with_email(&ctx.db, job.order_id).await? else {
        return Ok(Outcome::Skipped("order no longer exists".into()));
    };
    let items = orders::items_of(&ctx.db, &[order.id]).await?;
    let view = OrderView::new(
        &order,
        &items,
        OrderStatus::Pending,
        &ctx.mailer.support_email(),
    );
    let rendered =
        templates::confirmation(&view).map_err(|e| Failure::permanent(format!("template: {e}")))?;
    deliver(
        ctx,
        job.outbox_id,
        order.id,
        EMAIL_KIND,
        (&email, &order.customer_name),
        rendered,
    )
    .await
}
