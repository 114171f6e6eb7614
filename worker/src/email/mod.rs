//! Sending email over SMTP (lettre, pooled connections), with failures classified for
//! retries.

pub mod account;
pub mod smtp;
pub mod templates;

use chrono::{DateTime, Utc};
use lettre::{
    Message,
    message::{Mailbox, MultiPart, header::HeaderName},
};
use orderflow_shared::{domain::retry::FailureKind, settings::SmtpSettings};
use std::sync::Arc;

use smtp::SmtpPool;
use templates::Rendered;

/// Header naming the order an email is about, so an email can be traced back to its order.
pub const ORDER_HEADER: &str = "X-OrderFlow-Order-Id";

#[derive(Clone)]
pub struct Mailer {
    pool: Arc<SmtpPool>,
    from: Mailbox,
    domain: String,
}

/// A failed send, classified: 4xx, timeouts and connection problems are transient; 5xx
/// (recipient rejected) and unbuildable messages are permanent.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub kind: FailureKind,
    pub message: String,
    /// `orderflow_emails_total{reply}`: "4xx", "5xx", "network", or "none" when the message
    /// never reached SMTP (a bad address, an unbuildable message).
    pub reply: &'static str,
}

impl Mailer {
    /// `connections`: the most SMTP connections open at once (one per email job that can
    /// run at the same time).
    pub fn new(smtp: &SmtpSettings, connections: usize) -> anyhow::Result<Self> {
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("SMTP_FROM {:?} is not a mailbox: {e}", smtp.from))?;
        let domain = from.email.domain().to_string();
        Ok(Self {
            pool: Arc::new(SmtpPool::new(smtp, connections)),
            from,
            domain,
        })
    }

    /// The Message-ID of the `kind` email of an order: the same for every attempt, so a copy
    /// sent twice (a crash between the server's 250 and our record of it) is the same message
    /// to every mail system. The order's creation time keeps ids of different databases (a
    /// reset development database reusing order numbers) apart.
    pub fn message_id(&self, kind: &str, order_id: i64, created_at: DateTime<Utc>) -> String {
        format!(
            "<{kind}.{order_id}.{}@{}>",
            created_at.timestamp_micros(),
            self.domain
        )
    }

    /// The support address shown in emails: the sender's.
    pub fn support_email(&self) -> String {
        self.from.email.to_string()
    }

    /// The Message-ID of an account email: the same for every attempt of its job.
    pub fn account_message_id(
        &self,
        purpose: &str,
        outbox_id: i64,
        enqueued_at: DateTime<Utc>,
    ) -> String {
        format!(
            "<account-{purpose}.{outbox_id}.{}@{}>",
            enqueued_at.timestamp_micros(),
            self.domain
        )
    }

    /// Sends a multipart (text + HTML) message, about order `order` when it has one.
    pub async fn send(
        &self,
        (to, to_name): (&str, &str),
        (order, message_id): (Option<i64>, &str),
        email: Rendered,
    ) -> Result<(), SendError> {
        let permanent = |message: String| SendError {
            kind: FailureKind::Permanent,
            message,
            reply: "none",
        };
        let to = Mailbox::new(
            Some(to_name.to_string()),
            to.parse()
                .map_err(|e| permanent(format!("recipient {to:?} is not an address: {e}")))?,
        );
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .date_now()
            .message_id(Some(message_id.to_string()));
        if let Some(order) = order {
            builder = builder.raw_header(lettre::message::header::HeaderValue::new(
                HeaderName::new_from_ascii_str(ORDER_HEADER),
                order.to_string(),
            ));
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(email.text, email.html))
            .map_err(|e| permanent(format!("building the message: {e}")))?;
        let started = std::time::Instant::now();
        let sent = self
            .pool
            .send(message.envelope(), &message.formatted())
            .await;
        crate::metrics::smtp_send(started.elapsed());
        sent.map_err(|e| SendError {
            kind: if e.is_permanent() {
                FailureKind::Permanent
            } else {
                FailureKind::Transient
            },
            message: format!("smtp: {e}"),
            reply: e.reply_class(),
        })
    }
}
