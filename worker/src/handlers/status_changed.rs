//! `SendOrderStatusChanged`: "your order has shipped / was delivered / was cancelled".

use apalis::prelude::{BoxDynError, Data};
use orderflow_shared::jobs::{JobKind, SendOrderStatusChanged};
use tracing::Instrument;

use super::deliver::{self, Email};
use crate::{context::JobContext, email::templates};

pub async fn handle(job: SendOrderStatusChanged, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!(
        "job",
        kind = "status_changed",
        order_id = job.order_id,
        outbox_id = job.outbox_id,
        status = %job.status,
        request_id = job.request_id.as_deref().unwrap_or("")
    );
    let email = Email {
        job: JobKind::OrderStatusChanged,
        outbox_id: job.outbox_id,
        order_id: job.order_id,
        kind: format!("status_{}", job.status),
        status: job.status,
        render: templates::status_changed,
    };
    let storage = ctx.queues.status_changed.clone();
    deliver::run(&ctx, email, job, &storage)
        .instrument(span)
        .await
}
