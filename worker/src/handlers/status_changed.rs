//! `SendOrderStatusChanged`: "your order has shipped / was delivered / was cancelled".

use apalis::prelude::{BoxDynError, Data};
use orderflow_shared::jobs::{JobKind, SendOrderStatusChanged};
use tracing::Instrument;

use super::{deliver, order_email};
use crate::{context::JobContext, email::templates};

pub async fn handle(job: SendOrderStatusChanged, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!(
        "job",
        kind = "status_changed",
        order_id = job.order_id,
        outbox_id = job.outbox_id,
        status = %job.status,
        request_id = job.request_id.as_deref().unwrap_or(""),
        otel.name = "job status_changed",
        otel.kind = "consumer",
    );
    orderflow_shared::telemetry::propagation::continue_trace(&span, job.trace.as_ref());
    let kind = format!("status_{}", job.status);
    let email = order_email::email(
        JobKind::OrderStatusChanged,
        job.outbox_id,
        job.order_id,
        &kind,
    );
    let storage = ctx.queues.status_changed.clone();
    let (order_id, status) = (job.order_id, job.status);
    deliver::run(&ctx, email, (job, &storage), |_| {
        order_email::compose(&ctx, (order_id, &kind), status, templates::status_changed)
    })
    .instrument(span)
    .await
}
