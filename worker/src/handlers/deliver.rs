//! Sending an email at most once per (subject, kind), in two short transactions:
//!
//! 1. one statement claims the delivery (a lease with a token) and counts the attempt;
//! 2. the email is composed and sent, holding no transaction (the lease is renewed every
//!    `CLAIM_LEASE / 3` while a slow send goes on);
//! 3. one statement marks it sent and completes the job.
//!
//! A duplicate delivery of the job finds the email sent (nothing to do) or the claim held (it
//! comes back when the lease ends: by then the holder has finished, or died and stopped
//! renewing). A failed send gives the claim back. A worker killed mid-send releases nothing,
//! but its lease runs out within `CLAIM_LEASE`, before apalis-redis hands its job to another
//! worker (heartbeat × missed heartbeats). A crash between the SMTP server's 250 and step 3
//! sends the email again — with the same Message-ID, so mail systems see one message: SMTP
//! offers no way to make that step atomic.
//!
//! What is sent is the caller's (`compose`): an order's email (`order_email.rs`) or an
//! account's (`account.rs`).

use apalis::prelude::BoxDynError;
use apalis_redis::RedisStorage;
use chrono::{DateTime, Utc};
use orderflow_shared::{
    db::{
        deliveries::{self, Claim, Recipient},
        outbox,
    },
    jobs::{JobKind, Traced},
    telemetry::spans,
};
use serde::{Serialize, de::DeserializeOwned};
use std::{
    future::Future,
    time::{Duration, Instant},
};
use uuid::Uuid;

use super::{Failure, Outcome, conclude};
use crate::{context::JobContext, email::templates::Rendered, metrics};
use orderflow_shared::domain::retry::FailureKind;

/// How long a claim holds off other attempts without being renewed.
pub const CLAIM_LEASE: Duration = Duration::from_secs(6);

/// One email job: where it is recorded and who receives it.
pub struct Email {
    pub job: JobKind,
    pub outbox_id: i64,
    /// The delivery's record: (order id, `order_confirmation` / `status_shipped` / …) for an
    /// order email, (outbox id, `account_verify_email` / …) for an account email.
    pub target: (i64, String),
    pub recipient: Recipient,
}

/// A message ready to go.
pub struct Message {
    pub to: String,
    pub to_name: String,
    /// The same for every attempt of the email.
    pub message_id: String,
    /// `X-OrderFlow-Order-Id`, for an order email.
    pub order: Option<i64>,
    pub rendered: Rendered,
}

/// What an attempt that holds the claim sends: a message, or nothing (and why).
pub enum Composed {
    Send(Message),
    Skip(String),
}

/// Runs one attempt of `email` (`job` is the payload, re-pushed when retried); `compose` is
/// called, with the job's enqueue time, only once this attempt holds the claim.
pub async fn run<T, C, F>(
    ctx: &JobContext,
    email: Email,
    (job, storage): (T, &RedisStorage<T>),
    compose: C,
) -> Result<(), BoxDynError>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + Unpin + Traced + 'static,
    C: FnOnce(DateTime<Utc>) -> F,
    F: Future<Output = Result<Composed, Failure>>,
{
    let started = Instant::now();
    let _running = metrics::Running::start(email.job);
    let token = Uuid::new_v4();
    let target = (email.target.0, email.target.1.as_str());
    let Some(begun) = deliveries::begin(
        &ctx.db,
        email.outbox_id,
        target,
        email.recipient,
        (CLAIM_LEASE, token),
    )
    .await?
    else {
        tracing::info!("job already completed; duplicate delivery ignored");
        spans::job_outcome("duplicate");
        metrics::job_finished(email.job, "duplicate", started, None);
        return Ok(());
    };
    spans::job_attempt(
        job.trace().and_then(|t| t.queued_at_ms),
        begun.attempt.into(),
    );
    let result = match begun.claim {
        Claim::Claimed => {
            let renew = async {
                let mut every = tokio::time::interval(CLAIM_LEASE / 3);
                every.tick().await;
                loop {
                    every.tick().await;
                    if let Err(e) = deliveries::renew(&ctx.db, target, token, CLAIM_LEASE).await {
                        tracing::warn!(error = %e, "email claim not renewed");
                    }
                }
            };
            let send = send(ctx, &email, token, compose(begun.enqueued_at));
            let sent = tokio::select! {
                sent = tokio::time::timeout(ctx.timeout, send) => sent,
                never = renew => never,
            };
            let result = sent.unwrap_or_else(|_| {
                Err(Failure::transient(format!(
                    "timed out after {:?}",
                    ctx.timeout
                )))
            });
            if result.is_err() {
                // Best effort: if this fails too, the lease runs out by itself.
                let _ = deliveries::release(&ctx.db, target, token).await;
            }
            result
        }
        Claim::AlreadySent => {
            outbox::complete(&ctx.db, email.outbox_id, "done", None).await?;
            tracing::info!("email already sent; not sending again");
            Ok(Outcome::Done)
        }
        Claim::HeldElsewhere { until } => {
            let wait = (until - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
                .max(Duration::from_millis(250));
            Err(Failure {
                kind: FailureKind::HeldElsewhere(wait + Duration::from_millis(250)),
                message: format!("another attempt holds this email's claim until {until}"),
            })
        }
        Claim::NoOrder => Ok(Outcome::Skipped(
            "its order or user no longer exists".into(),
        )),
    };
    conclude(
        ctx,
        (email.job, email.outbox_id),
        (job, storage),
        (
            begun.attempt.max(1) as u32,
            Some(begun.enqueued_at),
            started,
        ),
        result,
    )
    .await
}

async fn send(
    ctx: &JobContext,
    email: &Email,
    token: Uuid,
    composed: impl Future<Output = Result<Composed, Failure>>,
) -> Result<Outcome, Failure> {
    let target = (email.target.0, email.target.1.as_str());
    let kind = email.target.1.as_str();
    let message = match composed.await? {
        Composed::Send(message) => message,
        Composed::Skip(reason) => {
            deliveries::release(&ctx.db, target, token).await?;
            return Ok(Outcome::Skipped(reason));
        }
    };
    let mut smtp = spans::smtp(kind);
    let sent = ctx
        .mailer
        .send(
            (&message.to, &message.to_name),
            (message.order, &message.message_id),
            message.rendered,
        )
        .await;
    if let Some(span) = smtp.as_mut() {
        let reply = sent.as_ref().map_or_else(|e| e.reply, |()| "2xx");
        span.set_attribute("smtp.reply", reply);
        if sent.is_err() {
            span.fail();
        }
    }
    drop(smtp);
    sent.map_err(|e| {
        metrics::email(kind, "failed", e.reply);
        Failure {
            kind: e.kind,
            message: e.message,
        }
    })?;
    metrics::email(kind, "sent", "2xx");
    // The email is out: record it, retrying briefly, since a lost record means a second copy
    // once the lease runs out.
    let mut pause = Duration::from_millis(50);
    let message_id = &message.message_id;
    let held = loop {
        match deliveries::finish(&ctx.db, email.outbox_id, target, token, message_id).await {
            Ok(held) => break held,
            Err(e) if pause < Duration::from_secs(2) => {
                tracing::warn!(error = %e, "recording a sent email failed; retrying");
                tokio::time::sleep(pause).await;
                pause *= 3;
            }
            Err(e) => return Err(e.into()),
        }
    };
    if !held {
        tracing::warn!(%message_id, "email sent after this attempt's claim was taken over");
    }
    tracing::info!(%message_id, "email sent");
    Ok(Outcome::Done)
}
