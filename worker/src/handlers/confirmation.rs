//! `SendOrderConfirmation`: the "order received" email.

use apalis::prelude::{BoxDynError, Data};
use orderflow_shared::{
    domain::OrderStatus,
    jobs::{JobKind, SendOrderConfirmation},
};
use tracing::Instrument;

use super::{deliver, order_email};
use crate::{context::JobContext, email::templates};

pub const EMAIL_KIND: &str = "order_confirmation";

pub async fn handle(job: SendOrderConfirmation, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    // The span is attached to the future (not entered across an await), so concurrent jobs
    // never see each other's fields.
    let span = tracing::info_span!(
        "job",
        kind = EMAIL_KIND,
        order_id = job.order_id,
        outbox_id = job.outbox_id,
        request_id = job.request_id.as_deref().unwrap_or(""),
        otel.name = "job order_confirmation",
        otel.kind = "consumer",
    );
    orderflow_shared::telemetry::propagation::continue_trace(&span, job.trace.as_ref());
    let email = order_email::email(
        JobKind::OrderConfirmation,
        job.outbox_id,
        job.order_id,
        EMAIL_KIND,
    );
    let storage = ctx.queues.confirmation.clone();
    let order_id = job.order_id;
    deliver::run(&ctx, email, (job, &storage), |_| {
        order_email::compose(
            &ctx,
            (order_id, EMAIL_KIND),
            OrderStatus::Pending,
            |view, _| templates::confirmation(view),
        )
    })
    .instrument(span)
    .await
}
