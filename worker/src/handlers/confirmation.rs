//! `SendOrderConfirmation`: the "order received" email.

use apalis::prelude::{BoxDynError, Data};
use orderflow_shared::{
    domain::OrderStatus,
    jobs::{JobKind, SendOrderConfirmation},
};
use tracing::Instrument;

use super::deliver::{self, Email};
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
        request_id = job.request_id.as_deref().unwrap_or("")
    );
    let email = Email {
        job: JobKind::OrderConfirmation,
        outbox_id: job.outbox_id,
        order_id: job.order_id,
        kind: EMAIL_KIND.to_string(),
        status: OrderStatus::Pending,
        render: |view, _| templates::confirmation(view),
    };
    let storage = ctx.queues.confirmation.clone();
    deliver::run(&ctx, email, job, &storage)
        .instrument(span)
        .await
}
