//! `SendAccountEmail`: the verification, password-reset and unlock emails. The worker makes
//! each single-use token when it composes the email — only its SHA-256 is stored — so no
//! token ever rests in the outbox or in Redis. Who gets one: `Purpose::may_send` (the
//! verification only to an address not verified yet, the others only to a verified one,
//! nothing to a deactivated account).

use apalis::prelude::{BoxDynError, Data};
use chrono::{DateTime, Utc};
use orderflow_shared::{
    db::{self, account_tokens, deliveries::Recipient, users::User},
    jobs::{JobKind, SendAccountEmail},
    opaque_token,
};
use tracing::Instrument;

use super::{
    Failure, Outcome, attempt,
    deliver::{self, Composed, Email, Message},
};
use crate::{context::JobContext, email::account};

pub async fn handle(job: SendAccountEmail, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!(
        "job",
        kind = "account_email",
        purpose = job.purpose.as_str(),
        outbox_id = job.outbox_id,
        request_id = job.request_id.as_deref().unwrap_or(""),
        otel.name = "job account_email",
        otel.kind = "consumer",
    );
    orderflow_shared::telemetry::propagation::continue_trace(&span, job.trace.as_ref());
    run(&ctx, job).instrument(span).await
}

async fn run(ctx: &JobContext, job: SendAccountEmail) -> Result<(), BoxDynError> {
    let storage = ctx.queues.account.clone();
    let user = match (job.user_id, job.email.as_deref()) {
        (Some(id), _) => db::users::get(&ctx.db, id).await?,
        (None, Some(email)) => db::users::find_by_email(&ctx.db, email).await?,
        (None, None) => None,
    };
    let purpose = job.purpose;
    let Some(user) = user.filter(|u| purpose.may_send(u.email_verified_at.is_some(), u.is_active))
    else {
        let outbox_id = job.outbox_id;
        let reason = format!("no account may receive a {} email here", purpose.as_str());
        return attempt(
            ctx,
            (JobKind::AccountEmail, outbox_id),
            (job, &storage),
            async { Ok(Outcome::Skipped(reason)) },
        )
        .await;
    };
    let email = Email {
        job: JobKind::AccountEmail,
        outbox_id: job.outbox_id,
        target: (job.outbox_id, format!("account_{}", purpose.as_str())),
        recipient: Recipient::User(user.id),
    };
    let outbox_id = job.outbox_id;
    deliver::run(ctx, email, (job, &storage), |enqueued_at| {
        compose(ctx, &user, (purpose, outbox_id, enqueued_at))
    })
    .await
}

/// A fresh token (its hash stored first), and the email carrying its link.
async fn compose(
    ctx: &JobContext,
    user: &User,
    (purpose, outbox_id, enqueued_at): (
        orderflow_shared::domain::account_email::Purpose,
        i64,
        DateTime<Utc>,
    ),
) -> Result<Composed, Failure> {
    let ttl = purpose.ttl(&ctx.accounts);
    let (token, hash) = opaque_token::generate();
    account_tokens::insert(&ctx.db, &hash, user.id, purpose, ttl).await?;
    let link = purpose.link(&ctx.accounts.public_url, &token);
    let view = account::view(purpose, &user.name, link, ttl, &ctx.mailer.support_email());
    let rendered =
        account::render(&view).map_err(|e| Failure::permanent(format!("template: {e}")))?;
    Ok(Composed::Send(Message {
        to: user.email.clone(),
        to_name: user.name.clone(),
        message_id: ctx
            .mailer
            .account_message_id(purpose.as_str(), outbox_id, enqueued_at),
        order: None,
        rendered,
    }))
}
