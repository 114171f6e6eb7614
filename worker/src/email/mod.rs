//! Sending email over SMTP (lettre, async, pooled), with failures classified for retries.

pub mod templates;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};
use orderflow_shared::{
    domain::retry::FailureKind,
    settings::{SmtpSettings, SmtpTls},
};
use secrecy::ExposeSecret;

use templates::Rendered;

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
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
}

impl Mailer {
    pub fn new(smtp: &SmtpSettings) -> anyhow::Result<Self> {
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("SMTP_FROM {:?} is not a mailbox: {e}", smtp.from))?;
        let domain = from.email.domain().to_string();
        let mut builder = match smtp.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                    .tls(Tls::Required(TlsParameters::new(smtp.host.clone())?))
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                .tls(Tls::Wrapper(TlsParameters::new(smtp.host.clone())?)),
        }
        .port(smtp.port)
        .timeout(Some(smtp.timeout));
        if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_string(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            domain,
        })
    }

    /// A Message-ID in the sender's domain.
    pub fn message_id(&self, tag: &str) -> String {
        format!("<{tag}.{}@{}>", uuid::Uuid::new_v4().simple(), self.domain)
    }

    /// The support address shown in emails: the sender's.
    pub fn support_email(&self) -> String {
        self.from.email.to_string()
    }

    /// Sends a multipart (text + HTML) message.
    pub async fn send(
        &self,
        to: &str,
        to_name: &str,
        message_id: &str,
        email: Rendered,
    ) -> Result<(), SendError> {
        let permanent = |message: String| SendError {
            kind: FailureKind::Permanent,
            message,
        };
        let to = Mailbox::new(
            Some(to_name.to_string()),
            to.parse()
                .map_err(|e| permanent(format!("recipient {to:?} is not an address: {e}")))?,
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .date_now()
            .message_id(Some(message_id.to_string()))
            .multipart(MultiPart::alternative_plain_html(email.text, email.html))
            .map_err(|e| permanent(format!("building the message: {e}")))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| SendError {
                kind: if e.is_permanent() {
                    FailureKind::Permanent
                } else {
                    FailureKind::Transient
                },
                message: format!("smtp: {e}"),
            })
    }
}
